"""Reactions: any one emoji per user and message, idempotent; a like is the 👍 reaction.

The like stays where existing clients read it (``liked_by``, the ``liked``/``unliked``
events); every other emoji is in ``reactions``. A change costs one bulk write (the whole
document when nothing else is changing it, see chat/message_writes.py) and sends
``reaction`` to the chat's members (and, for 👍, ``liked``/``unliked`` too); no change, no
write, no event.
"""
import emoji as emoji_data

from chatsvc.chat.context import ChatContext
from chatsvc.chat.lookup import message_for_member
from chatsvc.chat.message_writes import store_change
from chatsvc.chat.views import LIKE, message_view, reactions_view
from chatsvc.errors import BadRequest, NotFound
from chatsvc.store import messages as message_store

MAX_EMOJI_CHARS = 32   # the longest ZWJ family sequences are about 11 code points


def check_emoji(text) -> str:
    """``text`` if it is exactly one Unicode emoji (ZWJ sequences, skin tones, flags and
    keycaps included); BadRequest naming ``emoji`` otherwise."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_EMOJI_CHARS or not emoji_data.is_emoji(text):
        raise BadRequest("a reaction is one emoji", {"emoji": ["must be exactly one Unicode emoji"]})
    return text


def like(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return react(ctx, me, message_id, LIKE, True)


def unlike(ctx: ChatContext, me: dict, message_id: int) -> dict:
    return react(ctx, me, message_id, LIKE, False)


def react(ctx: ChatContext, me: dict, message_id: int, emoji: str, added: bool) -> dict:
    """The Message after adding (``added``) or taking back the caller's ``emoji``."""
    emoji = check_emoji(emoji)
    state = ctx.teams.get(me["team_id"])
    doc, chat = message_for_member(ctx, state, message_id, me["id"])
    if doc.get("deleted"):
        raise NotFound("that message was deleted")
    if emoji == LIKE:
        changed = _set_like(ctx, doc, me["id"], added)
    else:
        changed = _set_reaction(ctx, doc, emoji, me["id"], added)
    if changed:
        base = {"chat_id": chat["id"], "message_id": str(message_id), "user_id": me["id"]}
        if emoji == LIKE:
            ctx.publisher.publish(chat["member_ids"], {
                "type": "liked" if added else "unliked", **base, "liked_by": list(doc["liked_by"])})
        ctx.publisher.publish(chat["member_ids"], {
            "type": "reaction", **base, "emoji": emoji, "added": added,
            "reactions": reactions_view(doc)})
    return message_view(doc, me["id"])


def _set_like(ctx: ChatContext, doc: dict, user_id: str, liked: bool) -> bool:
    if (user_id in doc.get("liked_by", ())) == liked:
        return False
    store_change(ctx, doc, lambda d: _apply_like(d, user_id, liked),
                 message_store.like_op(ctx.engine, doc, user_id, liked))
    return True


def _apply_like(doc: dict, user_id: str, liked: bool):
    likers = [u for u in doc.get("liked_by", ()) if u != user_id] + ([user_id] if liked else [])
    doc["liked_by"] = likers
    doc["like_count"] = len(likers)


def _set_reaction(ctx: ChatContext, doc: dict, emoji: str, user_id: str, added: bool) -> bool:
    current = next((r for r in doc.get("reactions") or () if r["emoji"] == emoji), None)
    if (current is not None and user_id in current["user_ids"]) == added:
        return False
    store_change(ctx, doc, lambda d: _apply_reaction(d, emoji, user_id, added),
                 message_store.reaction_op(ctx.engine, doc, emoji, user_id, added))
    return True


def _apply_reaction(doc: dict, emoji: str, user_id: str, added: bool):
    """The same change as the engine's script, on a copy of the message."""
    reactions = doc.setdefault("reactions", [])
    entry = next((r for r in reactions if r["emoji"] == emoji), None)
    if added:
        if entry is None:
            entry = {"emoji": emoji, "user_ids": []}
            reactions.append(entry)
        if user_id not in entry["user_ids"]:
            entry["user_ids"].append(user_id)
    elif entry is not None:
        entry["user_ids"] = [u for u in entry["user_ids"] if u != user_id]
        if not entry["user_ids"]:
            reactions.remove(entry)
