"""Editing a message: its sender replaces the text; the stored record keeps every version."""
from chatsvc.chat.files import publish_with_message
from chatsvc.chat.context import ChatContext
from chatsvc.chat.links import has_link
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.mentions import mentioned_ids
from chatsvc.chat.send import check_body
from chatsvc.chat.views import message_view
from chatsvc.errors import Forbidden, NotFound
from chatsvc.ids import now_iso
from chatsvc.store import messages as message_store


def edit_message(ctx: ChatContext, me: dict, message_id: int, body: str) -> dict:
    """The Message with its new ``body`` and ``edited_at``. Sender only (Forbidden for the
    others); a message deleted for everyone (even one deleted while this edit was on its
    way) is NotFound. One bulk write; ``edited`` goes to the chat's members. Users then see
    and find only the new text: the old one is kept in the record's ``versions`` for the
    compliance export. The same text again changes nothing."""
    check_body(ctx, body)
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    if doc.get("deleted"):
        raise NotFound("that message was deleted")
    if doc["sender_id"] != me["id"]:
        raise Forbidden("only the sender can edit a message")
    if body == doc["body"]:
        return message_view(doc, me["id"])
    now = now_iso()
    mentions = mentioned_ids(body, chat, state.by_username, me["id"])
    ctx.message_writes.begin(doc)   # an edit stays a script: it must see a delete that won
    applied = None
    try:
        result = ctx.bulk.write([message_store.edit_op(ctx.engine, doc, body, now, mentions,
                                                       has_link(body))])[0]
        result.raise_for_failure()
        if result.result == "noop":   # deleted for everyone in the engine before the edit ran
            raise NotFound("that message was deleted")
        versions = doc.setdefault("versions", [])
        versions.append({"body": doc["body"], "at": doc.get("edited_at") or doc["created_at"], "until": now})
        doc.update(body=body, edited_at=now, mentions=mentions, has_link=has_link(body))
        applied = result
    finally:
        ctx.message_writes.end(doc, applied)
    publish_with_message(ctx, chat["member_ids"], doc,
                         lambda view: {"type": "edited", "chat_id": chat["id"], "message": view})
    return message_view(doc, me["id"])
