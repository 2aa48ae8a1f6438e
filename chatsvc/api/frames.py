"""The WebSocket frames of chat actions: their schemas, and the chat/ use case each calls.

The WebSocket twin of the REST views: a frame is parsed with a marshmallow schema (shared
with the REST request of the same action, chatsvc.api.schemas), handed to one chat/
function, and its result framed. ``command_table(ctx)`` is what create_app() gives the
gateway (chatsvc.gateway.server.Command): the gateway itself never imports chat/.
"""
from dataclasses import dataclass
from typing import Callable

from marshmallow import Schema, ValidationError, fields

from chatsvc.api import schemas as s
from chatsvc.chat import deletion, edits, reactions, reads, send
from chatsvc.errors import BadRequest
from chatsvc.ids import parse_id
from chatsvc.wire import Id


# -- schemas: the REST request body plus what the URL says over REST ------------------
class SendFrame(s.SendIn):
    chat_id = Id(required=True)


class LikeFrame(s.Request):
    message_id = Id(required=True)


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
                                   parse_id(data["thread_id"]), data["also_in_chat"])
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


def _read(ctx, user, data):
    reads.mark_read(ctx, user, data["chat_id"], parse_id(data["message_id"]))
    return {"type": "ok"}


def _delete(ctx, user, data):
    deletion.delete_message(ctx, user, parse_id(data["message_id"]), data["scope"])
    return {"type": "ok"}


@dataclass(frozen=True)
class FrameCommand:
    """One frame type: validate with ``schema``, then ``handler(ctx, user, data)``."""
    kind: str
    schema: Schema
    handler: Callable
    ctx: object
    pipelined: bool = False

    def __call__(self, user: dict, frame: dict) -> dict:
        try:
            data = self.schema.load(frame)
        except ValidationError as exc:
            raise BadRequest(f"invalid {self.kind} frame", exc.messages) from None
        return self.handler(self.ctx, user, data)


# (schema, handler, pipelined). Sends are pipelined: each waits only for its own group
# commit, so a connection may have several in flight.
COMMANDS = {
    "send": (SendFrame(), _send, True),
    "like": (LikeFrame(), _like, False),
    "unlike": (LikeFrame(), _unlike, False),
    "read": (ReadFrame(), _read, False),
    "delete": (DeleteFrame(), _delete, False),
    "edit": (EditFrame(), _edit, False),
    "react": (ReactFrame(), _react, False),
    "unreact": (ReactFrame(), _unreact, False),
}


def command_table(ctx) -> dict[str, FrameCommand]:
    return {kind: FrameCommand(kind, schema, handler, ctx, pipelined)
            for kind, (schema, handler, pipelined) in COMMANDS.items()}
