"""Teams, signup, login, logout and token authentication."""
import hashlib
import hmac
import secrets

import gevent
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatsvc.chat import audit, directory_sync
from chatsvc.chat.context import ChatContext
from chatsvc.chat.state import TeamState
from chatsvc.errors import Conflict, Forbidden, Unauthorized
from chatsvc.ids import now_iso
from chatsvc.chat import file_urls
from chatsvc.store import accounts as account_store
from chatsvc.store.accounts import team_key, username_key

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): slow for an attacker, ~20 ms here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
AVATAR_COLORS = ["#e5484d", "#f76b15", "#ffc53d", "#46a758", "#12a594", "#0090ff",
                 "#3e63dd", "#8e4ec6", "#d6409f", "#ad7f58"]


def _in_thread(fn, *args):
    # argon2 is deliberately slow CPU work; run it off the event loop so other
    # connections keep being served meanwhile (argon2-cffi releases the GIL).
    return gevent.get_hub().threadpool.apply(fn, args)


def hash_password(password: str) -> str:
    return _in_thread(_hasher.hash, password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _in_thread(_hasher.verify, stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(ctx: ChatContext, token: str) -> str:
    """Tokens are stored only as a keyed hash: a leaked tokens index logs nobody in."""
    return hmac.new(ctx.config.secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def public_user(user: dict) -> dict:
    view = {k: user[k] for k in ("id", "team_id", "username", "display_name", "avatar_color")}
    sha = user.get("avatar_sha256")
    view["avatar_url"] = file_urls.avatar_url(user["team_id"], user["id"], sha) if sha else None
    return view


def avatar_color(username: str) -> str:
    return AVATAR_COLORS[int(hashlib.sha1(username.casefold().encode()).hexdigest(), 16) % len(AVATAR_COLORS)]


def _issue_token(ctx: ChatContext, user: dict) -> str:
    # "<team id>.<256 random bits>": the team id in front is the proxy's routing key
    # (issue 18, docs/protocol.md "Scale-out"); the token stays opaque to clients, and
    # tokens issued before (no team in front) keep working: they are looked up whole.
    token = f"{user['team_id']}.{secrets.token_urlsafe(32)}"
    digest = token_hash(ctx, token)
    account_store.put_token(ctx.engine, digest, user["id"], user["team_id"], now_iso())
    ctx.tokens[digest] = (user["id"], user["team_id"])
    return token


def _new_user(ctx: ChatContext, team_id: str, username: str, display_name: str,
              password: str, is_admin: bool) -> dict:
    user_id = ctx.new_id()
    if not account_store.claim(ctx.engine, username_key(team_id, username), user_id, now_iso()):
        raise Conflict("that username is taken in this team", {"username": ["already taken"]})
    user = {
        "id": user_id, "team_id": team_id, "username": username,
        "username_key": username.casefold(), "display_name": display_name,
        "avatar_color": avatar_color(username),
        "password_hash": hash_password(password), "is_admin": is_admin,
        "created_at": now_iso(),
    }
    account_store.put_user(ctx.engine, user)
    return user


def create_team(ctx: ChatContext, name: str, username: str, display_name: str,
                password: str) -> tuple[dict, dict, str]:
    """A new team and its first member, the team admin. Conflict if the name is taken."""
    name = name.strip()
    team_id = ctx.new_id()
    if not account_store.claim(ctx.engine, team_key(name), team_id, now_iso()):
        raise Conflict("a team with that name exists", {"name": ["already taken"]})
    team = {"id": team_id, "name": name, "name_key": name.casefold(),
            "invite_code": secrets.token_urlsafe(12), "admin_id": None, "created_at": now_iso()}
    user = _new_user(ctx, team_id, username, display_name, password, is_admin=True)
    team["admin_id"] = user["id"]
    account_store.put_team(ctx.engine, team)
    state = TeamState(team)
    state.add_user(user)
    ctx.teams.add(state)
    return team, user, _issue_token(ctx, user)


def _team_by_name(ctx: ChatContext, name: str, username: str) -> TeamState | None:
    team_id = account_store.claim_owner(ctx.engine, team_key(name))
    if team_id is None:
        return None
    if not ctx.teams.serves(team_id):   # scale-out: another instance owns it (issue 18)
        return directory_sync.one_user_view(ctx, team_id, username)
    if account_store.get_team(ctx.engine, team_id) is None:
        return None
    return ctx.teams.get(team_id)


def signup(ctx: ChatContext, team: str, invite_code: str, username: str, display_name: str,
           password: str) -> tuple[dict, str]:
    state = _team_by_name(ctx, team, username)
    # One answer for "no such team" and "wrong code": the code is the secret.
    if state is None or not hmac.compare_digest(state.team["invite_code"], invite_code):
        raise Forbidden("unknown team or wrong invite code")
    existing = state.users.get(state.by_username.get(username.casefold(), ""))
    if existing is not None and existing.get("unclaimed"):
        user = _claim_imported(ctx, existing, display_name, password)
    else:
        user = _new_user(ctx, state.id, username, display_name, password, is_admin=False)
    state.add_user(user)
    return user, _issue_token(ctx, user)


def _claim_imported(ctx: ChatContext, user: dict, display_name: str, password: str) -> dict:
    """An account made by an import (no usable password) becomes its owner's: once, by the
    first signup with the invite code and that username (the engine's create-if-absent
    decides between two racing signups)."""
    if not account_store.claim(ctx.engine, f"claimed:{user['id']}", user["id"], now_iso()):
        raise Conflict("that username is taken in this team", {"username": ["already taken"]})
    user = dict(user, display_name=display_name, password_hash=hash_password(password), unclaimed=False)
    account_store.put_user(ctx.engine, user)
    return user


def login(ctx: ChatContext, team: str, username: str, password: str) -> tuple[dict, str]:
    state = _team_by_name(ctx, team, username)
    user_id = state.by_username.get(username.casefold()) if state else None
    user = state.users.get(user_id) if user_id else None
    # Verify even when the user is unknown, so timing does not tell which part was wrong.
    stored = user["password_hash"] if user else _DUMMY_HASH
    if not password_matches(stored, password) or user is None:
        raise Unauthorized("wrong team, username or password")
    if user.get("is_admin") or user.get("is_compliance"):   # issue 17: logins of admins are audited
        audit.record_ctx(ctx, user, "login", {"user_id": user["id"]})
    return user, _issue_token(ctx, user)


def authenticate(ctx: ChatContext, token: str | None) -> tuple[dict, str]:
    """(user, token hash) for a live token; Unauthorized otherwise."""
    if not token or len(token) > 512:
        raise Unauthorized("missing or invalid token")
    digest = token_hash(ctx, token)
    found = ctx.tokens.get(digest)
    if found is None:
        doc = account_store.get_token(ctx.engine, digest)
        if doc is None:
            raise Unauthorized("missing or invalid token")
        found = ctx.tokens[digest] = (doc["user_id"], doc["team_id"])
    state = ctx.teams.get(found[1])
    user = state.users.get(found[0])
    if user is None and ctx.teams.guard is not None:   # signed up through another instance
        user = directory_sync.late_user(ctx, state, found[0])
    if user is None:
        raise Unauthorized("missing or invalid token")
    return user, digest


def logout(ctx: ChatContext, digest: str):
    """Revoke one token: REST refuses it at once and its sockets are closed."""
    account_store.delete_token(ctx.engine, digest)
    ctx.tokens.pop(digest, None)
    ctx.publisher.disconnect_token(digest)


_DUMMY_HASH = _hasher.hash("timing-equaliser")
