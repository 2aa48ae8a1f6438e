"""Deleting a message: for oneself (hide) or, by its sender, for everyone."""
from contextlib import contextmanager

from chatsvc.chat import audit
from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.message_writes import store_change
from chatsvc.chat.views import message_view
from chatsvc.errors import Forbidden, NotFound
from chatsvc.ids import now_iso
from chatsvc.store import messages as message_store


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
            # Recorded first: no delete for everyone goes unaudited (issue 17).
            audit.record_ctx(ctx, me, "message.delete_for_everyone",
                             {"message_id": str(message_id), "chat_id": chat["id"]})
            with _writing(ctx, doc):
                changed = message_store.delete_for_everyone(ctx.engine, doc, me["id"], now)
                doc.update(deleted=True, deleted_body=doc["body"], body="", deleted_at=now, deleted_by=me["id"])
            if changed and doc.get("thread_id") is not None:
                _uncount_reply(ctx, state, doc, me)
        ctx.publisher.publish(chat["member_ids"], {"type": "deleted", "chat_id": chat["id"],
                                                   "message_id": str(message_id), "for": "everyone"})
    else:
        with _writing(ctx, doc):
            message_store.hide(ctx.engine, doc, me["id"], now)
            doc["hidden_for"] = list(doc.get("hidden_for", ())) + [me["id"]]
        ctx.publisher.publish([me["id"]], {"type": "deleted", "chat_id": chat["id"],
                                           "message_id": str(message_id), "for": "me"})


def _uncount_reply(ctx: ChatContext, state, reply: dict, me: dict):
    """A reply deleted for everyone leaves its root's count (as in Slack); the members get
    the root's new summary. The latest repliers' avatars stay as they were."""
    try:
        root, chat = message_for_member(ctx, state, reply["thread_id"], me["id"])
    except NotFound:   # the root itself is gone (retention): nothing to count on
        return
    store_change(ctx, root, _one_reply_less, message_store.unreplied_op(ctx.engine, root))
    ctx.publisher.publish(chat["member_ids"], {"type": "thread", "chat_id": chat["id"],
                                               "root": message_view(root, "")})


def _one_reply_less(root: dict):
    root["reply_count"] = max(0, root.get("reply_count", 0) - 1)


@contextmanager
def _writing(ctx: ChatContext, doc: dict):
    """Registered as a write of the message (chat/message_writes.py); the copy's version is
    forgotten afterwards, so the next change to it goes as a script."""
    ctx.message_writes.begin(doc)
    try:
        yield
    finally:
        ctx.message_writes.end(doc, None)
