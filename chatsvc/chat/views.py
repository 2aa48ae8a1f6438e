"""How stored documents look to one viewer (PROTOCOL.md's Message and Chat objects)."""
from chatsvc.chat.state import TeamState, Tail


def message_view(doc: dict, viewer_id: str) -> dict | None:
    """The Message object for ``viewer_id``, or None where she hid it for herself."""
    if viewer_id in doc.get("hidden_for", ()):
        return None
    deleted = bool(doc.get("deleted"))
    return {
        "id": str(doc["id"]),
        "chat_id": doc["chat_id"],
        "sender_id": doc["sender_id"],
        "body": "" if deleted else doc["body"],
        "created_at": doc["created_at"],
        "client_msg_id": doc["client_msg_id"],
        "liked_by": list(doc.get("liked_by", ())),
        "deleted": deleted,
    }


def messages_view(docs, viewer_id: str) -> list[dict]:
    return [m for m in (message_view(d, viewer_id) for d in docs) if m is not None]


def _last_visible(tail: Tail, viewer_id: str) -> dict | None:
    for doc in reversed(tail.messages):
        view = message_view(doc, viewer_id)
        if view is not None:
            return view
    return None


def unread_count(tail: Tail, read_id: int, viewer_id: str) -> int:
    """Others' visible messages after the viewer's read marker. When the marker is older
    than the tail, the count covers the tail only (a lower bound)."""
    count = 0
    for doc in reversed(tail.messages):
        if doc["id"] <= read_id:
            break
        if doc["sender_id"] != viewer_id and not doc.get("deleted") \
                and viewer_id not in doc.get("hidden_for", ()):
            count += 1
    return count


def chat_view(state: TeamState, chat: dict, tail: Tail, viewer_id: str) -> dict:
    reads = state.reads.get(chat["id"], {})
    return {
        "id": chat["id"],
        "kind": chat["kind"],
        "title": chat.get("title"),
        "member_ids": list(chat["member_ids"]),
        "created_by": chat["created_by"],
        "created_at": chat["created_at"],
        "last_message": _last_visible(tail, viewer_id),
        "unread_count": unread_count(tail, reads.get(viewer_id, 0), viewer_id),
        "reads": {uid: str(mid) for uid, mid in reads.items() if uid in chat["member_ids"]},
    }


def activity_key(chat: dict, tail: Tail) -> int:
    """Chat and message ids are both time-ordered, so the larger is the latest activity."""
    last = tail.messages[-1]["id"] if tail.messages else 0
    return max(int(chat["id"]), last)
