"""Legal holds (issue 17).

A hold names users and/or chats of the team, with a name (unique in the team, kept after
release) and a reason. It covers every message of its chats and every message its users
sent, whatever their age: retention never deletes a covered message while any active hold
covers it (overlapping holds: a message stays while one of them does; a policy shorter
than a hold's reach: the hold wins). A delete-for-everyone of a held message hides it from
users as always; the stored record keeps the original (deleted_body), and retention leaves
it alone. Releasing a hold (DELETE) keeps its document for the record; retention resumes
on what no other hold covers. Admins and compliance officers manage holds.
"""
from chatsvc.chat import audit
from chatsvc.chat.roles import require_officer
from chatsvc.errors import BadRequest, Conflict, NotFound
from chatsvc.ids import now_iso
from chatsvc.store import accounts as account_store
from chatsvc.store import compliance as store

MAX_IDS = 1000


def view(hold: dict) -> dict:
    return {k: hold.get(k) for k in ("id", "name", "reason", "user_ids", "chat_ids", "active",
                                     "created_at", "created_by", "released_at", "released_by")}


def create_hold(ctx, me: dict, name: str, reason: str, user_ids: list[str], chat_ids: list[str]) -> dict:
    require_officer(me)
    state = ctx.teams.get(me["team_id"])
    user_ids, chat_ids = list(dict.fromkeys(user_ids)), list(dict.fromkeys(chat_ids))
    if not user_ids and not chat_ids:
        raise BadRequest("a hold needs at least one user or chat", {"user_ids": ["give user_ids and/or chat_ids"]})
    bad_users = [u for u in user_ids if u not in state.users]
    if bad_users:
        raise BadRequest("unknown user ids", {"user_ids": [f"no such user in this team: {u}" for u in bad_users[:10]]})
    bad_chats = [c for c in chat_ids if c not in state.chats]
    if bad_chats:
        raise BadRequest("unknown chat ids", {"chat_ids": [f"no such chat in this team: {c}" for c in bad_chats[:10]]})
    hold_id = ctx.new_id()
    key = f"hold:{state.id}:{name.strip().casefold()}"
    if not account_store.claim(ctx.engine, key, hold_id, now_iso()):
        raise Conflict("a hold with that name exists in this team", {"name": ["already used"]})
    hold = {"id": hold_id, "team_id": state.id, "name": name.strip(), "name_key": name.strip().casefold(),
            "reason": reason, "user_ids": user_ids, "chat_ids": chat_ids, "active": True,
            "created_at": now_iso(), "created_by": me["id"], "released_at": None, "released_by": None}
    audit.record_ctx(ctx, me, "hold.create", {"hold_id": hold_id, "name": hold["name"]},
                     {"reason": reason, "user_ids": user_ids, "chat_ids": chat_ids})
    store.put_hold(ctx.engine, hold)
    return view(hold)


def list_holds(ctx, me: dict) -> list[dict]:
    require_officer(me)
    return [view(h) for h in sorted(store.holds(ctx.engine, me["team_id"]), key=lambda h: int(h["id"]))]


def release_hold(ctx, me: dict, hold_id: str) -> dict:
    require_officer(me)
    hold = store.get_hold(ctx.engine, hold_id)
    if hold is None or hold["team_id"] != me["team_id"]:
        raise NotFound("no such hold")
    if hold["active"]:
        hold = dict(hold, active=False, released_at=now_iso(), released_by=me["id"])
        audit.record_ctx(ctx, me, "hold.release", {"hold_id": hold_id, "name": hold["name"]})
        store.put_hold(ctx.engine, hold)
    return view(hold)


def coverage(engine, team_id: str) -> tuple[frozenset, frozenset]:
    """(held chat ids, held user ids) of the team's active holds, read now."""
    chats, users = set(), set()
    for h in store.holds(engine, team_id, active_only=True):
        chats.update(h.get("chat_ids") or ())
        users.update(h.get("user_ids") or ())
    return frozenset(chats), frozenset(users)
