"""Likes: a user's thumbs-up on a message, at most one each, idempotent."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.views import message_view
from chatsvc.errors import NotFound
from chatsvc.store import messages as message_store


def like(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return _set_like(ctx, me, message_id, True)


def unlike(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return _set_like(ctx, me, message_id, False)


def _set_like(ctx: ChatContext, me: dict, message_id: int, liked: bool) -> dict:
    """The Message after the change. Unchanged (already liked / not liked): no write, no
    event. Otherwise one bulk write, then ``liked``/``unliked`` to the chat's members."""
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    if doc.get("deleted"):
        raise NotFound("that message was deleted")
    likers = list(doc.get("liked_by", ()))
    if (me["id"] in likers) != liked:
        op = message_store.like_op(ctx.engine, doc, me["id"], liked)
        ctx.bulk.write([op])[0].raise_for_failure()
        likers = likers + [me["id"]] if liked else [u for u in likers if u != me["id"]]
        doc["liked_by"] = likers
        doc["like_count"] = len(likers)
        ctx.publisher.publish(chat["member_ids"], {
            "type": "liked" if liked else "unliked", "chat_id": chat["id"],
            "message_id": str(message_id), "user_id": me["id"], "liked_by": list(likers)})
    return message_view(doc, me["id"])
