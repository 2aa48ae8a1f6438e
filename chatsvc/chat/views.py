"""How stored documents look to one viewer (PROTOCOL.md's Message and Chat objects)."""
from chatsvc.chat.files import files_view
from chatsvc.chat.state import TeamState, Tail


LIKE = "\U0001F44D"   # a like is the thumbs-up reaction (PROTOCOL.md)


def in_chat(doc: dict) -> bool:
    """Shown in the chat's own flow: a top-level message, or a thread reply also sent to
    the chat. (Thread-only replies show in their thread.)"""
    return doc.get("thread_id") is None or bool(doc.get("also_in_chat"))


def reactions_view(doc: dict) -> list[dict]:
    """[{emoji, user_ids}]: the like (kept in liked_by) first, then the others in the order
    they were first used."""
    out = [{"emoji": LIKE, "user_ids": list(doc["liked_by"])}] if doc.get("liked_by") else []
    out += [{"emoji": r["emoji"], "user_ids": list(r["user_ids"])}
            for r in doc.get("reactions") or () if r.get("user_ids")]
    return out


def message_view(doc: dict, viewer_id: str) -> dict | None:
    """The Message object for ``viewer_id``, or None where she hid it for herself."""
    if viewer_id in doc.get("hidden_for", ()):
        return None
    deleted = bool(doc.get("deleted"))
    thread_id = doc.get("thread_id")
    return {
        "id": str(doc["id"]),
        "chat_id": doc["chat_id"],
        "sender_id": doc["sender_id"],
        "body": "" if deleted else doc["body"],
        "created_at": doc["created_at"],
        "client_msg_id": doc["client_msg_id"],
        "liked_by": list(doc.get("liked_by", ())),
        "deleted": deleted,
        "edited_at": None if deleted else doc.get("edited_at"),
        "thread_id": None if thread_id is None else str(thread_id),
        "also_in_chat": bool(doc.get("also_in_chat")),
        "reply_count": doc.get("reply_count", 0),
        "last_reply_at": doc.get("last_reply_at"),
        "reply_user_ids": list(doc.get("reply_user_ids", ())),
        "reactions": [] if deleted else reactions_view(doc),
        "mentions": list(doc.get("mentions", ())),
        "files": files_view(doc, viewer_id),
    }


def messages_view(docs, viewer_id: str) -> list[dict]:
    return [m for m in (message_view(d, viewer_id) for d in docs) if m is not None]


def _last_visible(tail: Tail, viewer_id: str) -> dict | None:
    for doc in reversed(tail.messages):
        view = message_view(doc, viewer_id) if in_chat(doc) else None
        if view is not None:
            return view
    return None


def unread_count(tail: Tail, read_id: int, viewer_id: str) -> int:
    """Others' visible messages of the chat's flow after the viewer's read marker (a
    thread-only reply is not unread in the chat, as in Slack). When the marker is older than
    the tail, the count covers the tail only (chat.unread counts the rest)."""
    count = 0
    for doc in reversed(tail.messages):
        if doc["id"] <= read_id:
            break
        if doc["sender_id"] != viewer_id and not doc.get("deleted") and in_chat(doc) \
                and viewer_id not in doc.get("hidden_for", ()):
            count += 1
    return count


NOTIFY = ("all", "mentions", "none")


def settings_view(state: TeamState, chat: dict, viewer_id: str) -> dict:
    """{muted, notify}: the viewer's own, or the defaults (like Slack: every message of a
    direct chat notifies, in a group only mentions)."""
    mine = state.settings.get(chat["id"], {}).get(viewer_id) or {}
    default = "all" if chat["kind"] == "direct" else "mentions"
    notify = mine.get("notify") if mine.get("notify") in NOTIFY else default
    return {"muted": bool(mine.get("muted")), "notify": notify}


def mention_count(tail: Tail, read_id: int, viewer_id: str) -> int:
    """The viewer's unread messages that mention her (thread replies included: a mention
    calls her wherever it is). The tail only, as unread_count."""
    count = 0
    for doc in reversed(tail.messages):
        if doc["id"] <= read_id:
            break
        if viewer_id in doc.get("mentions", ()) and not doc.get("deleted") \
                and viewer_id not in doc.get("hidden_for", ()):
            count += 1
    return count


def chat_view(state: TeamState, chat: dict, tail: Tail, viewer_id: str,
              older: tuple[int, int] = (0, 0)) -> dict:
    """The Chat for one viewer. ``older``: (unread, mentions) below the tail, when the
    viewer's read marker is older than it (chat.unread.older_counts)."""
    reads = state.reads.get(chat["id"], {})
    return {
        "id": chat["id"],
        "kind": chat["kind"],
        "title": chat.get("title"),
        "member_ids": list(chat["member_ids"]),
        "created_by": chat["created_by"],
        "created_at": chat["created_at"],
        "last_message": _last_visible(tail, viewer_id),
        "unread_count": older[0] + unread_count(tail, reads.get(viewer_id, 0), viewer_id),
        "mention_count": older[1] + mention_count(tail, reads.get(viewer_id, 0), viewer_id),
        **settings_view(state, chat, viewer_id),
        "reads": {uid: str(mid) for uid, mid in reads.items() if uid in chat["member_ids"]},
    }


def activity_key(chat: dict, tail: Tail) -> int:
    """Chat and message ids are both time-ordered, so the larger is the latest activity (a
    thread-only reply is the thread's activity, not the chat's)."""
    last = next((d["id"] for d in reversed(tail.messages) if in_chat(d)), 0)
    return max(int(chat["id"]), last)
