"""The team directory, contact lists and presence as contacts see it."""
from chatsvc.chat.accounts import public_user
from chatsvc.chat.context import ChatContext
from chatsvc.errors import BadRequest, NotFound
from chatsvc.ids import now_iso
from chatsvc.store import accounts as account_store
from chatsvc.store import contacts as contact_store

DIRECTORY_LIMIT = 50


def directory(ctx: ChatContext, me: dict, prefix: str = "") -> list[dict]:
    """Team members whose username or display name starts with ``prefix`` (any case)."""
    state = ctx.teams.get(me["team_id"])
    needle = prefix.strip().casefold()
    matches = [u for u in state.users.values()
               if u["username_key"].startswith(needle) or u["display_name"].casefold().startswith(needle)
               or any(w.startswith(needle) for w in u["display_name"].casefold().split())]
    matches.sort(key=lambda u: u["username_key"])
    return [public_user(u) for u in matches[:DIRECTORY_LIMIT]]


def presence(ctx: ChatContext, user: dict) -> dict:
    status, last_seen = ctx.publisher.presence_of(user["id"])
    return {"user_id": user["id"], "status": status, "last_seen": last_seen or user.get("last_seen")}


def list_contacts(ctx: ChatContext, me: dict) -> list[dict]:
    state = ctx.teams.get(me["team_id"])
    contacts = [state.users[cid] for cid in state.contacts.get(me["id"], ()) if cid in state.users]
    contacts.sort(key=lambda u: u["display_name"].casefold())
    return [{"user": public_user(u), "presence": presence(ctx, u)} for u in contacts]


def _teammate(ctx: ChatContext, me: dict, user_id: str) -> dict:
    user = ctx.teams.get(me["team_id"]).users.get(user_id)
    if user is None:  # another team's user looks exactly like no user
        raise NotFound("no such user")
    return user


def add_contact(ctx: ChatContext, me: dict, user_id: str):
    contact = _teammate(ctx, me, user_id)
    if contact["id"] == me["id"]:
        raise BadRequest("you cannot add yourself as a contact", {"user_id": ["is yourself"]})
    contact_store.put(ctx.engine, me["team_id"], me["id"], contact["id"], now_iso())
    ctx.teams.get(me["team_id"]).add_contact(me["id"], contact["id"])


def remove_contact(ctx: ChatContext, me: dict, user_id: str):
    contact = _teammate(ctx, me, user_id)
    contact_store.delete(ctx.engine, me["id"], contact["id"])
    ctx.teams.get(me["team_id"]).remove_contact(me["id"], contact["id"])


def presence_changed(ctx: ChatContext, user: dict, status: str, last_seen: str | None):
    """Called by the connection layer on a user's first connect / final disconnect: tell
    everyone who has her as a contact, and keep last_seen for the next process."""
    state = ctx.teams.get(user["team_id"])
    watchers = state.contact_of.get(user["id"], set())
    event = {"type": "presence", "user_id": user["id"], "status": status, "last_seen": last_seen}
    ctx.publisher.publish(watchers, event)
    if status == "offline" and last_seen:
        user["last_seen"] = last_seen
        try:
            account_store.set_last_seen(ctx.engine, user["id"], last_seen)
        except Exception:  # presence must not fail because the engine is briefly away
            pass
