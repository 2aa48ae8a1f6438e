"""Actions on one message: edit, reactions (like is 👍), delete, context, its thread."""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, load_json, me
from chatsvc.chat import deletion, edits, history, reactions, threads
from chatsvc.errors import NotFound
from chatsvc.ids import parse_id

bp = Blueprint("messages", __name__)


def _message_id(raw: str) -> int:
    message_id = parse_id(raw)
    if message_id is None:
        raise NotFound("no such message")
    return message_id


@bp.put("/api/messages/<message_id>/like")
@endpoint("Like a message (idempotent)", response=s.MessageOut, per_user="action_user")
def like(message_id):
    return reactions.like(ctx(), me(), _message_id(message_id))


@bp.delete("/api/messages/<message_id>/like")
@endpoint("Take back a like (idempotent)", response=s.MessageOut, per_user="action_user")
def unlike(message_id):
    return reactions.unlike(ctx(), me(), _message_id(message_id))


@bp.delete("/api/messages/<message_id>")
@endpoint("Delete for me (hide) or for everyone (sender only)", query=s.DeleteQuery, status=204,
          per_user="action_user")
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


@bp.patch("/api/messages/<message_id>")
@endpoint("Edit a message (sender only)", body=s.EditIn, response=s.MessageOut)
def edit(message_id):
    data = load_json(s.EditIn())
    return edits.edit_message(ctx(), me(), _message_id(message_id), data["body"])


@bp.put("/api/messages/<message_id>/reactions/<emoji>")
@endpoint("React with one emoji (idempotent)", response=s.MessageOut, per_user="action_user")
def react(message_id, emoji):
    return reactions.react(ctx(), me(), _message_id(message_id), emoji, True)


@bp.delete("/api/messages/<message_id>/reactions/<emoji>")
@endpoint("Take back a reaction (idempotent)", response=s.MessageOut, per_user="action_user")
def unreact(message_id, emoji):
    return reactions.react(ctx(), me(), _message_id(message_id), emoji, False)


@bp.get("/api/messages/<message_id>/thread")
@endpoint("A thread: its root and a page of replies, ascending", query=s.ThreadQuery, response=s.ThreadOut)
def thread(message_id):
    args = load_args(s.ThreadQuery())
    root, replies, has_more = threads.thread(ctx(), me(), _message_id(message_id),
                                             parse_id(args["after"]), args["limit"])
    return {"root": root, "replies": replies, "has_more": has_more}
