"""Creating, listing, reading and leaving chats."""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.unread import older_counts
from chatsvc.chat.views import activity_key, chat_view
from chatsvc.errors import BadRequest, NotFound
from chatsvc.ids import now_iso
from chatsvc.store import chats as chat_store

MAX_MEMBERS = 256


def _direct_chat(state, a: str, b: str) -> dict | None:
    """The live direct chat of this pair: both still members."""
    for chat_id in state.member_chats.get(a, ()):
        chat = state.chats[chat_id]
        if chat["kind"] == "direct" and b in chat["member_ids"] and a in chat["member_ids"]:
            return chat
    return None


def create_chat(ctx: ChatContext, me: dict, member_ids: list[str], title: str | None) -> tuple[dict, bool]:
    """(Chat view, created). One other member and no title makes a direct chat, reused
    for the same pair; anything else a group. Every member must be in the caller's team."""
    state = ctx.teams.get(me["team_id"])
    others = list(dict.fromkeys(uid for uid in member_ids if uid != me["id"]))
    unknown = [uid for uid in others if uid not in state.users]
    if unknown:
        raise NotFound("no such user: " + ", ".join(unknown))
    if not others:
        raise BadRequest("a chat needs at least one other member", {"member_ids": ["needs another member"]})
    if len(others) + 1 > MAX_MEMBERS:
        raise BadRequest(f"a chat has at most {MAX_MEMBERS} members", {"member_ids": ["too many"]})
    title = (title or "").strip() or None
    kind = "direct" if len(others) == 1 and title is None else "group"
    if kind == "direct":
        existing = _direct_chat(state, me["id"], others[0])
        if existing is not None:
            return viewed_chat(ctx, state, existing, me["id"]), False
    now = now_iso()
    members = [me["id"]] + others
    chat = {
        "id": ctx.new_id(), "team_id": state.id, "kind": kind, "title": title,
        "member_ids": members, "former_member_ids": [],
        "membership": [{"user_id": uid, "joined_at": now, "left_at": None} for uid in members],
        "created_by": me["id"], "created_at": now,
    }
    chat_store.put(ctx.engine, chat)
    state.put_chat(chat)
    tail = ctx.teams.tail(state, chat["id"])
    for uid in members:  # each member sees the chat as it is for her
        ctx.publisher.publish([uid], {"type": "chat", "chat": chat_view(state, chat, tail, uid)})
    return chat_view(state, chat, tail, me["id"]), True


def list_chats(ctx: ChatContext, me: dict) -> list[dict]:
    """The caller's current chats, most recent activity first."""
    state = ctx.teams.get(me["team_id"])
    chat_ids = list(state.member_chats.get(me["id"], ()))
    tails = ctx.teams.tails(state, chat_ids)
    ordered = sorted(chat_ids, key=lambda cid: activity_key(state.chats[cid], tails[cid]), reverse=True)
    older = older_counts(ctx, state, me["id"], tails)
    return [chat_view(state, state.chats[cid], tails[cid], me["id"], older.get(cid, (0, 0))) for cid in ordered]


def get_chat(ctx: ChatContext, me: dict, chat_id: str) -> dict:
    state = ctx.teams.get(me["team_id"])
    return viewed_chat(ctx, state, state.chat_for_member(chat_id, me["id"]), me["id"])


def viewed_chat(ctx: ChatContext, state, chat: dict, viewer_id: str) -> dict:
    """One chat's view for one viewer, its counts exact below the tail too."""
    tail = ctx.teams.tail(state, chat["id"])
    older = older_counts(ctx, state, viewer_id, {chat["id"]: tail})
    return chat_view(state, chat, tail, viewer_id, older.get(chat["id"], (0, 0)))


def leave_chat(ctx: ChatContext, me: dict, chat_id: str):
    """The leaver stops receiving the chat at once; the others get ``left``."""
    state = ctx.teams.get(me["team_id"])
    chat = dict(state.chat_for_member(chat_id, me["id"]))
    now = now_iso()
    chat["member_ids"] = [uid for uid in chat["member_ids"] if uid != me["id"]]
    chat["former_member_ids"] = list(dict.fromkeys(chat.get("former_member_ids", []) + [me["id"]]))
    chat["membership"] = [dict(m, left_at=now) if m["user_id"] == me["id"] and m["left_at"] is None else m
                          for m in chat["membership"]]
    chat_store.put(ctx.engine, chat)
    state.put_chat(chat)
    event = {"type": "left", "chat_id": chat_id, "user_id": me["id"]}
    ctx.publisher.publish(chat["member_ids"] + [me["id"]], event)
