"""Reading a chat's messages: history pages and a message in its context.

Pages are served from the chat's in-memory tail when it covers them (read-your-writes: a
message acknowledged to anyone is in the tail before anyone is told), and from the engine
for older pages, merged with the tail where the two meet.
"""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.views import in_chat, message_view, messages_view
from chatsvc.store import messages as message_store


def history(ctx: ChatContext, me: dict, chat_id: str, before: int | None, after: int | None,
            limit: int) -> tuple[list[dict], bool]:
    """(messages ascending, has_more). No cursor: the latest page. ``after``: the page just
    after it (catching up); ``before``: the page just before it (scrolling back)."""
    state = ctx.teams.get(me["team_id"])
    state.chat_for_member(chat_id, me["id"])
    tail = ctx.teams.tail(state, chat_id)
    visible = messages_view(window(ctx, tail, chat_id, me["id"], before, after, limit + 1), me["id"])
    if after is not None and before is None:
        page = visible[:limit]
    else:
        page = visible[-limit:]
    return page, len(visible) > limit


def context(ctx: ChatContext, me: dict, message_id: int, before: int, after: int) -> tuple[list, bool, bool]:
    """(messages ascending, has_more_before, has_more_after) around one message."""
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    tail = ctx.teams.tail(state, chat["id"])
    earlier = messages_view(window(ctx, tail, chat["id"], me["id"], message_id, None, before + 1), me["id"])
    later = messages_view(window(ctx, tail, chat["id"], me["id"], None, message_id, after + 1), me["id"])
    middle = message_view(doc, me["id"])
    return (earlier[-before:] if before else []) + [middle] + later[:after], \
        len(earlier) > before, len(later) > after


def window(ctx: ChatContext, tail, chat_id: str, viewer_id: str, before: int | None,
           after: int | None, want: int) -> list[dict]:
    """Up to ``want`` stored messages of the chat's flow (thread-only replies are in their
    thread) in (after, before), ascending, not hidden by the viewer, nearest the cursor
    kept: ``after`` alone pages forward from it, anything else pages back from ``before``
    (or from the newest)."""
    def in_range(doc):
        return (before is None or doc["id"] < before) and (after is None or doc["id"] > after)

    local = [d for d in tail.messages
             if in_range(d) and in_chat(d) and viewer_id not in d.get("hidden_for", ())]
    forward = after is not None and before is None
    reaches = tail.complete or (tail.messages and after is not None and after >= tail.oldest_id)
    # A forward page starts at ``after``: the tail serves it only when it reaches back there.
    if reaches or (len(local) >= want and not forward):
        return local[:want] if forward else local[-want:]
    if tail.evicted_unrefreshed():
        message_store.refresh(ctx.engine)
    # Backward pages continue below the tail (which has everything newer); forward pages
    # ask the engine from ``after`` (store.page sorts ascending only without ``before``).
    below = before if before is not None else (tail.oldest_id if tail.messages and not forward else None)
    older = message_store.page(ctx.engine, chat_id, before=below, after=after, limit=want,
                               viewer_id=viewer_id)
    merged = {d["id"]: d for d in older}
    merged.update({d["id"]: d for d in local})   # the tail's copies carry the latest changes
    ordered = sorted(merged.values(), key=lambda d: d["id"])
    return ordered[:want] if forward else ordered[-want:]
