"""The WebSocket frames of chat actions: their schemas, and the chat/ use case each calls.

The WebSocket twin of the REST views: a frame is parsed with a marshmallow schema (shared
with the REST request of the same action, chatsvc.api.schemas), handed to one chat/
function, and its result framed. ``command_table(ctx)`` is what create_app() gives the
gateway (chatsvc.gateway.server.Command): the gateway itself never imports chat/.
"""
from dataclasses import dataclass
from typing import Callable

from marshmallow import Schema, ValidationError, fields

from chatsvc import metrics
from chatsvc.api import schemas as s
from chatsvc.chat import deletion, edits, reactions, reads, send, typing
from chatsvc.errors import BadRequest
from chatsvc.ids import parse_id
from chatsvc.wire import Id


# -- schemas: the REST request body plus what the URL says over REST ------------------
class SendFrame(s.SendIn):
    chat_id = Id(required=True)


class LikeFrame(s.Request):
    message_id = Id(required=True)


class TypingFrame(s.Request):
    chat_id = Id(required=True)


class EditFrame(s.EditIn):
    message_id = Id(required=True)


class ReactFrame(s.Request):
    message_id = Id(required=True)
    # Any string: chat/reactions.check_emoji says whether it is one emoji.
    emoji = fields.String(required=True)


class ReadFrame(s.ReadIn):
    chat_id = Id(required=True)


class DeleteFrame(s.DeleteQuery):
    message_id = Id(required=True)


# -- handlers: (ctx, user, data) -> answer frame --------------------------------------
def _send(ctx, user, data):
    message, _ = send.send_message(ctx, user, data["chat_id"], data["body"], data["client_msg_id"],
                                   parse_id(data["thread_id"]), data["also_in_chat"], data["file_ids"])
    metrics.ACKS.inc()
    return {"type": "ack", "client_msg_id": data["client_msg_id"], "message": message}


def _like(ctx, user, data):
    reactions.like(ctx, user, parse_id(data["message_id"]))
    return {"type": "ok"}


def _unlike(ctx, user, data):
    reactions.unlike(ctx, user, parse_id(data["message_id"]))
    return {"type": "ok"}


def _edit(ctx, user, data):
    edits.edit_message(ctx, user, parse_id(data["message_id"]), data["body"])
    return {"type": "ok"}


def _react(ctx, user, data):
    reactions.react(ctx, user, parse_id(data["message_id"]), data["emoji"], True)
    return {"type": "ok"}


def _unreact(ctx, user, data):
    reactions.react(ctx, user, parse_id(data["message_id"]), data["emoji"], False)
    return {"type": "ok"}


def _typing(ctx, user, data):
    typing.typing(ctx, user, data["chat_id"])
    return None   # no answer (PROTOCOL.md); a failure still answers with an error


def _read(ctx, user, data):
    reads.mark_read(ctx, user, data["chat_id"], parse_id(data["message_id"]))
    return {"type": "ok"}


def _delete(ctx, user, data):
    deletion.delete_message(ctx, user, parse_id(data["message_id"]), data["scope"])
    return {"type": "ok"}


@dataclass(frozen=True)
class FrameCommand:
    """One frame type: validate with ``schema``, then ``handler(ctx, user, data)``.
    ``ordered_by``: the frame field whose equal values must run in order (None: any order)."""
    kind: str
    schema: Schema
    handler: Callable
    ctx: object
    pipelined: bool = True
    ordered_by: str | None = None
    throttle: str | None = None   # the per-user throttle (chatsvc.throttle.Throttles) it counts against

    def order_key(self, frame: dict):
        if self.ordered_by is None:
            return None
        value = frame.get(self.ordered_by)
        return (self.ordered_by, value if isinstance(value, (str, int)) else None)

    def __call__(self, user: dict, frame: dict) -> dict:
        try:
            data = self.schema.load(frame)
        except ValidationError as exc:
            raise BadRequest(f"invalid {self.kind} frame", exc.messages) from None
        if self.throttle is not None:
            getattr(self.ctx.throttles, self.throttle).hit(user["id"])
        return self.handler(self.ctx, user, data)


# (schema, handler, ordered_by). Every command is pipelined: each waits only for its own
# engine write (a send for its group commit), so a connection may have several in flight.
# Changes to one message (or one chat's read marker) keep the order they were sent in;
# sends need none (each is its own message).
COMMANDS = {
    "send": (SendFrame(), _send, None),
    "like": (LikeFrame(), _like, "message_id"),
    "unlike": (LikeFrame(), _unlike, "message_id"),
    "read": (ReadFrame(), _read, "chat_id"),
    "delete": (DeleteFrame(), _delete, "message_id"),
    "edit": (EditFrame(), _edit, "message_id"),
    "react": (ReactFrame(), _react, "message_id"),
    "unreact": (ReactFrame(), _unreact, "message_id"),
    "typing": (TypingFrame(), _typing, None),
}


def command_table(ctx) -> dict[str, FrameCommand]:
    return {kind: FrameCommand(kind, schema, handler, ctx, ordered_by=key,
                               throttle=None if kind in UNTHROTTLED else "action_user")
            for kind, (schema, handler, key) in COMMANDS.items()}


# A send has its own limit (CHATSVC_SEND_RATE, chat/send.py), so do edits (the send's body
# rules); typing is rate-limited where it is forwarded (chat/typing.py).
UNTHROTTLED = {"send", "edit", "typing"}
