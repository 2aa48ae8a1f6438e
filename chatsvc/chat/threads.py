"""Reading a thread: its root and its replies (replies live in the root's chat, with
``thread_id`` = the root's id; see chat/send.py for how a reply is stored)."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.views import message_view, messages_view
from chatsvc.store import messages as message_store


def thread(ctx: ChatContext, me: dict, message_id: int, after: int | None,
           limit: int) -> tuple[dict, list[dict], bool]:
    """(root, replies ascending after ``after``, has_more). ``message_id`` is the root or
    any reply of its thread. Read-your-writes like history: recent replies come from the
    chat's tail, older ones from the engine."""
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    root = doc
    if doc.get("thread_id") is not None:
        root, chat = message_for_member(ctx, state, doc["thread_id"], me["id"])
    tail = ctx.teams.tail(state, chat["id"])
    start = max(after or 0, root["id"])   # every reply is newer than its root

    local = [d for d in tail.messages if d.get("thread_id") == root["id"] and d["id"] > start
             and me["id"] not in d.get("hidden_for", ())]
    if tail.complete or (tail.messages and tail.oldest_id <= start):
        replies = local
    else:
        if tail.evicted_unrefreshed():
            message_store.refresh(ctx.engine)
        older = message_store.page(ctx.engine, chat["id"], after=start, limit=limit + 1,
                                   viewer_id=me["id"], thread_id=root["id"])
        merged = {d["id"]: d for d in older}
        merged.update({d["id"]: d for d in local})   # the tail's copies carry the latest changes
        replies = sorted(merged.values(), key=lambda d: d["id"])
    replies = messages_view(replies[:limit + 1], me["id"])
    return message_view(root, me["id"]), replies[:limit], len(replies) > limit
