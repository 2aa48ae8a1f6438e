"""Actions on one message: like, unlike, delete, context."""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, me
from chatsvc.chat import deletion, history, likes
from chatsvc.errors import NotFound
from chatsvc.ids import parse_id

bp = Blueprint("messages", __name__)


def _message_id(raw: str) -> int:
    message_id = parse_id(raw)
    if message_id is None:
        raise NotFound("no such message")
    return message_id


@bp.put("/api/messages/<message_id>/like")
@endpoint("Like a message (idempotent)", response=s.MessageOut)
def like(message_id):
    return likes.like(ctx(), me(), _message_id(message_id))


@bp.delete("/api/messages/<message_id>/like")
@endpoint("Take back a like (idempotent)", response=s.MessageOut)
def unlike(message_id):
    return likes.unlike(ctx(), me(), _message_id(message_id))


@bp.delete("/api/messages/<message_id>")
@endpoint("Delete for me (hide) or for everyone (sender only)", query=s.DeleteQuery, status=204)
def delete(message_id):
    scope = load_args(s.DeleteQuery())["scope"]
    deletion.delete_message(ctx(), me(), _message_id(message_id), scope)
    return "", 204


@bp.get("/api/messages/<message_id>/context")
@endpoint("A message with its neighbours", query=s.ContextQuery, response=s.ContextOut)
def context(message_id):
    args = load_args(s.ContextQuery())
    page, more_before, more_after = history.context(ctx(), me(), _message_id(message_id),
                                                    args["before"], args["after"])
    return {"messages": page, "has_more_before": more_before, "has_more_after": more_after}
