"""Read markers: the last message each member has read in each chat."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.errors import NotFound
from chatsvc.ids import now_iso
from chatsvc.store import chats as chat_store


def mark_read(ctx: ChatContext, me: dict, chat_id: str, message_id: int):
    """Move the caller's read marker forward to ``message_id`` (never back): one bulk write
    and a ``read`` event to the chat's members; nothing at all when it would not move."""
    state = ctx.teams.get(me["team_id"])
    state.chat_for_member(chat_id, me["id"])
    _, chat = message_for_member(ctx, state, message_id, me["id"])
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
