"""Client frames -> the chat/ use cases they ask for -> the answer frame.

Interpretation only: which function a frame type calls and how its result is framed. The
functions themselves decide every permission.
"""
from chatsvc.chat import messages
from chatsvc.ids import parse_id


def _send(ctx, user, data):
    message, _ = messages.send_message(ctx, user, data["chat_id"], data["body"], data["client_msg_id"])
    return {"type": "ack", "client_msg_id": data["client_msg_id"], "message": message}


def _like(ctx, user, data):
    messages.like(ctx, user, parse_id(data["message_id"]))
    return {"type": "ok"}


def _unlike(ctx, user, data):
    messages.unlike(ctx, user, parse_id(data["message_id"]))
    return {"type": "ok"}


def _read(ctx, user, data):
    messages.mark_read(ctx, user, data["chat_id"], parse_id(data["message_id"]))
    return {"type": "ok"}


def _delete(ctx, user, data):
    messages.delete_message(ctx, user, parse_id(data["message_id"]), data["scope"])
    return {"type": "ok"}


def _ping(ctx, user, data):
    return {"type": "pong"}


HANDLERS = {"send": _send, "like": _like, "unlike": _unlike, "read": _read,
            "delete": _delete, "ping": _ping}
