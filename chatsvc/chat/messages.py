"""Messages: send, history, likes, read markers, deletion and context."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.views import message_view, messages_view
from chatsvc.errors import BadRequest, Forbidden, NotFound, RateLimited
from chatsvc.ids import now_iso
from chatsvc.ratelimit import TokenBucket
from chatsvc.store import chats as chat_store
from chatsvc.store import messages as message_store


def _check_send_rate(ctx: ChatContext, me: dict):
    """Per sender, whatever the transport or the number of connections she opens."""
    bucket = ctx.send_limits.get(me["id"])
    if bucket is None:
        bucket = ctx.send_limits[me["id"]] = TokenBucket(ctx.config.send_rate, ctx.config.send_burst)
    if not bucket.take():
        raise RateLimited("you are sending messages too fast; slow down")


def send_message(ctx: ChatContext, me: dict, chat_id: str, body: str, client_msg_id: str) -> tuple[dict, bool]:
    """(Message, created): created is False for a retry of an earlier client_msg_id."""
    _check_send_rate(ctx, me)
    state = ctx.teams.get(me["team_id"])
    chat = state.chat_for_member(chat_id, me["id"])
    ctx.teams.tail(state, chat_id)  # loaded first, so the new message joins it
    doc, created = ctx.sender.send(state, chat, me, body, client_msg_id)
    if doc["chat_id"] != chat_id:
        raise BadRequest("this client_msg_id was already used in another chat",
                         {"client_msg_id": ["already used in another chat"]})
    return message_view(doc, ""), created


def history(ctx: ChatContext, me: dict, chat_id: str, before: int | None, after: int | None,
            limit: int) -> tuple[list[dict], bool]:
    """(messages ascending, has_more). No cursor: the latest page. ``after``: the page just
    after it (catching up); ``before``: the page just before it (scrolling back)."""
    state = ctx.teams.get(me["team_id"])
    state.chat_for_member(chat_id, me["id"])
    tail = ctx.teams.tail(state, chat_id)
    visible = messages_view(_window(ctx, tail, chat_id, me["id"], before, after, limit + 1), me["id"])
    if after is not None and before is None:
        page = visible[:limit]
    else:
        page = visible[-limit:]
    return page, len(visible) > limit


def _window(ctx, tail, chat_id, viewer_id, before, after, want) -> list[dict]:
    """Up to ``want`` messages in (after, before), ascending, nearest the cursor kept."""
    def in_range(doc):
        return (before is None or doc["id"] < before) and (after is None or doc["id"] > after)

    local = [d for d in tail.messages if in_range(d) and viewer_id not in d.get("hidden_for", ())]
    from_start = after is not None and before is None
    enough = len(local) >= want
    reaches = tail.complete or (tail.messages and after is not None and after >= tail.oldest_id)
    # Forward pages start at ``after``: the tail serves them only when it reaches back there.
    if reaches or (enough and not from_start):
        return local[:want] if from_start else local[-want:]
    if tail.evicted_unrefreshed():
        message_store.refresh(ctx.engine)
    # (store.page sorts ascending only without ``before``: a forward page must not bound it.)
    older = message_store.page(ctx.engine, chat_id, before=before if before is not None
                               else (tail.oldest_id if tail.messages and not from_start else None),
                               after=after, limit=want, viewer_id=viewer_id)
    if from_start:
        # Engine returns ascending from ``after`` up to the tail; the tail has the rest.
        merged = {d["id"]: d for d in older}
        merged.update({d["id"]: d for d in local})
        return sorted(merged.values(), key=lambda d: d["id"])[:want]
    merged = {d["id"]: d for d in older}
    merged.update({d["id"]: d for d in local})
    return sorted(merged.values(), key=lambda d: d["id"])[-want:]


def _set_like(ctx: ChatContext, me: dict, message_id: int, liked: bool) -> dict:
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    if doc.get("deleted"):
        raise NotFound("that message was deleted")
    likers = list(doc.get("liked_by", ()))
    if (me["id"] in likers) != liked:  # idempotent: no write, no event when unchanged
        script = ("if (!ctx._source.liked_by.contains(params.u)) { ctx._source.liked_by.add(params.u) } "
                  "else { ctx.op = 'noop' }") if liked else \
                 ("if (!ctx._source.liked_by.removeIf(x -> x == params.u)) { ctx.op = 'noop' }")
        ctx.bulk.write([message_store.script_op(ctx.engine, doc, script, {"u": me["id"]})])[0].raise_for_failure()
        likers = likers + [me["id"]] if liked else [u for u in likers if u != me["id"]]
        doc["liked_by"] = likers
        doc["like_count"] = len(likers)
        ctx.publisher.publish(chat["member_ids"], {
            "type": "liked" if liked else "unliked", "chat_id": chat["id"],
            "message_id": str(message_id), "user_id": me["id"], "liked_by": list(likers)})
    return message_view(doc, me["id"])


def like(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return _set_like(ctx, me, message_id, True)


def unlike(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return _set_like(ctx, me, message_id, False)


def mark_read(ctx: ChatContext, me: dict, chat_id: str, message_id: int):
    """Move the caller's read marker forward to ``message_id`` (never back)."""
    state = ctx.teams.get(me["team_id"])
    state.chat_for_member(chat_id, me["id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    if chat["id"] != chat_id:
        raise NotFound("no such message in this chat")
    reads = state.reads.setdefault(chat_id, {})
    if reads.get(me["id"], 0) >= message_id:
        return
    reads[me["id"]] = message_id
    op = chat_store.read_marker_op(ctx.engine, state.id, chat_id, me["id"], message_id, now_iso())
    ctx.bulk.write([op])[0].raise_for_failure()
    ctx.publisher.publish(chat["member_ids"], {"type": "read", "chat_id": chat_id,
                                               "user_id": me["id"], "message_id": str(message_id)})


HIDE = ("if (!ctx._source.hidden_for.contains(params.u)) { ctx._source.hidden_for.add(params.u); "
        "if (ctx._source.hidden_log == null) { ctx._source.hidden_log = [] } "
        "ctx._source.hidden_log.add(['user_id': params.u, 'at': params.t]) } else { ctx.op = 'noop' }")
DELETE = ("if (ctx._source.deleted != true) { ctx._source.deleted = true; "
          "ctx._source.deleted_body = ctx._source.body; ctx._source.body = ''; "
          "ctx._source.deleted_at = params.t; ctx._source.deleted_by = params.u } else { ctx.op = 'noop' }")


def delete_message(ctx: ChatContext, me: dict, message_id: int, scope: str):
    """``me``: hidden from the caller's own views and search. ``everyone``: the sender
    only; the body disappears for all, the stored record keeps it for compliance export.
    The engine write waits for a refresh, so search stops finding it before we answer."""
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    now = now_iso()
    if scope == "everyone":
        if doc["sender_id"] != me["id"]:
            raise Forbidden("only the sender can delete a message for everyone")
        if not doc.get("deleted"):
            message_store.update(ctx.engine, doc, DELETE, {"u": me["id"], "t": now}, wait=True)
            doc.update(deleted=True, deleted_body=doc["body"], body="", deleted_at=now, deleted_by=me["id"])
        ctx.publisher.publish(chat["member_ids"], {"type": "deleted", "chat_id": chat["id"],
                                                   "message_id": str(message_id), "for": "everyone"})
    else:
        message_store.update(ctx.engine, doc, HIDE, {"u": me["id"], "t": now}, wait=True)
        doc["hidden_for"] = list(doc.get("hidden_for", ())) + [me["id"]]
        ctx.publisher.publish([me["id"]], {"type": "deleted", "chat_id": chat["id"],
                                           "message_id": str(message_id), "for": "me"})


def context(ctx: ChatContext, me: dict, message_id: int, before: int, after: int) -> tuple[list, bool, bool]:
    """(messages ascending, has_more_before, has_more_after) around one message."""
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    tail = ctx.teams.tail(state, chat["id"])
    earlier = messages_view(_window(ctx, tail, chat["id"], me["id"], message_id, None, before + 1), me["id"])
    later = messages_view(_window(ctx, tail, chat["id"], me["id"], None, message_id, after + 1), me["id"])
    middle = message_view(doc, me["id"])
    return (earlier[-before:] if before else []) + [middle] + later[:after], \
        len(earlier) > before, len(later) > after
