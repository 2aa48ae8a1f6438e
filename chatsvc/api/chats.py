"""Chats and their messages."""
from flask import Blueprint

from chatsvc import metrics
from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, load_json, me
from chatsvc.chat import chats, history as chat_history, reads, send as chat_send, settings
from chatsvc.ids import parse_id

bp = Blueprint("chats", __name__)


@bp.post("/api/chats")
@endpoint("Start a direct or group chat (a direct chat is reused for the same pair)",
          body=s.CreateChatIn, response=s.ChatOut, status=201, per_user="chat_user")
def create_chat():
    data = load_json(s.CreateChatIn())
    chat, created = chats.create_chat(ctx(), me(), data["member_ids"], data["title"])
    return chat, 201 if created else 200


@bp.get("/api/chats")
@endpoint("The caller's chats, most recent activity first", response=s.ChatsOut)
def list_chats():
    return {"chats": chats.list_chats(ctx(), me())}


@bp.get("/api/chats/<chat_id>")
@endpoint("One chat", response=s.ChatOut)
def get_chat(chat_id):
    return chats.get_chat(ctx(), me(), chat_id)


@bp.post("/api/chats/<chat_id>/leave")
@endpoint("Leave a chat", status=204)
def leave_chat(chat_id):
    chats.leave_chat(ctx(), me(), chat_id)
    return "", 204


@bp.get("/api/chats/<chat_id>/messages")
@endpoint("A page of history, ascending", query=s.HistoryQuery, response=s.MessagesOut)
def history(chat_id):
    args = load_args(s.HistoryQuery())
    page, has_more = chat_history.history(ctx(), me(), chat_id, parse_id(args["before"]),
                                          parse_id(args["after"]), args["limit"])
    return {"messages": page, "has_more": has_more}


@bp.post("/api/chats/<chat_id>/messages")
@endpoint("Send a message (idempotent per client_msg_id)", body=s.SendIn,
          response=s.MessageOut, status=201)
def send(chat_id):
    data = load_json(s.SendIn())
    message, created = chat_send.send_message(ctx(), me(), chat_id, data["body"], data["client_msg_id"],
                                              parse_id(data["thread_id"]), data["also_in_chat"],
                                              data["file_ids"])
    metrics.ACKS.inc()
    return message, 201 if created else 200


@bp.post("/api/chats/<chat_id>/read")
@endpoint("Move the caller's read marker forward", body=s.ReadIn, status=204,
          per_user="action_user")
def read(chat_id):
    data = load_json(s.ReadIn())
    reads.mark_read(ctx(), me(), chat_id, parse_id(data["message_id"]))
    return "", 204


@bp.put("/api/chats/<chat_id>/settings")
@endpoint("The caller's own settings of a chat (mute, notify)", body=s.SettingsIn, response=s.ChatOut)
def update_settings(chat_id):
    data = load_json(s.SettingsIn())
    return settings.update_settings(ctx(), me(), chat_id, data.get("muted"), data.get("notify"))
