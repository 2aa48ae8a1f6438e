"""Teams, signup, login, logout and token authentication."""
import hashlib
import hmac
import secrets

import gevent
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatsvc.chat import audit, directory_sync, tokens
from chatsvc.chat.context import ChatContext
from chatsvc.chat.state import TeamState
from chatsvc.errors import Conflict, Forbidden, RateLimited, Unauthorized
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


def _verify(stored_hash: str, password: str) -> bool:
    # In the worker thread: a mismatch is an answer, not an error for gevent's threadpool
    # to print with a stack trace.
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_matches(stored_hash: str, password: str) -> bool:
    return _in_thread(_verify, stored_hash, password)


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
    tokens.store_new(ctx, token_hash(ctx, token), user)
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


def _invite_matches(state: TeamState | None, invite_code: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII strings (a 500 before issue 16).
    return state is not None and hmac.compare_digest(state.team["invite_code"].encode(),
                                                     invite_code.encode())


def signup(ctx: ChatContext, team: str, invite_code: str, username: str, display_name: str,
           password: str, address: str | None = None) -> tuple[dict, str]:
    """Join with the invite code. Wrong codes count against the caller's address
    (CHATSVC_LIMIT_INVITE_ADDRESS): guessing codes is throttled, joining is not."""
    ctx.throttles.invite_address.check(address)
    state = _team_by_name(ctx, team, username)
    # One answer for "no such team" and "wrong code": the code is the secret.
    if not _invite_matches(state, invite_code):
        try:
            ctx.throttles.invite_address.hit(address)
        except RateLimited:
            pass   # this attempt is answered as wrong; the next one is throttled
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


def login(ctx: ChatContext, team: str, username: str, password: str,
          address: str | None = None) -> tuple[dict, str]:
    """A token for the right password. Throttled per address (CHATSVC_LIMIT_LOGIN_ADDRESS)
    and, after CHATSVC_LOGIN_FREE_FAILURES wrong passwords for one account from one
    address, with a growing back-off for that pair: the owner logging in from elsewhere
    is not locked out by someone guessing her password."""
    throttles = ctx.throttles
    throttles.login_address.hit(address)
    pair = (team.strip().casefold(), username.casefold(), address)
    throttles.login_failures.check(pair)
    state = _team_by_name(ctx, team, username)
    user = _login_user(ctx, state, username)
    # Verify even when the user is unknown, so timing does not tell which part was wrong.
    stored = user["password_hash"] if user else _DUMMY_HASH
    if not password_matches(stored, password) or user is None:
        throttles.login_failures.failed(pair)
        raise Unauthorized("wrong team, username or password")
    throttles.login_failures.succeeded(pair)
    if user.get("is_admin") or user.get("is_compliance"):   # issue 17: logins of admins are audited
        audit.record_ctx(ctx, user, "login", {"user_id": user["id"]})
    return user, _issue_token(ctx, user)


def _login_user(ctx: ChatContext, state: TeamState | None, username: str) -> dict | None:
    """The user logging in, as the engine has her: this process's cached copy may predate
    a password change made through another process (a realtime GET; a login is rare). A
    throwaway view (another instance owns the team) was just read from the engine."""
    if state is None:
        return None
    if ctx.teams.peek(state.id) is not state:
        return state.users.get(state.by_username.get(username.casefold(), ""))
    return directory_sync.current_user(ctx, state, username)


def authenticate(ctx: ChatContext, token: str | None) -> tuple[dict, str]:
    """(user, token hash) for a live token; Unauthorized otherwise (chat/tokens.py: idle
    timeout, lifetime, revocation seen within CHATSVC_TOKEN_RECHECK seconds)."""
    if not token or len(token) > 512:
        raise Unauthorized("missing or invalid token")
    digest = token_hash(ctx, token)
    entry = tokens.check(ctx, digest)
    state = ctx.teams.get(entry.team_id)
    user = state.users.get(entry.user_id)
    if user is None:   # signed up through another instance or process
        user = directory_sync.late_user(ctx, state, entry.user_id)
    if user is None:
        raise Unauthorized("missing or invalid token")
    return user, digest


def logout(ctx: ChatContext, digest: str):
    """Revoke one token: REST refuses it at once and its sockets are closed."""
    tokens.revoke(ctx, digest)


def logout_everywhere(ctx: ChatContext, me: dict) -> int:
    """Revoke every token of the caller, this one included; how many."""
    return tokens.revoke_all(ctx, me["id"])


def change_password(ctx: ChatContext, me: dict, digest: str, current: str, new: str):
    """Needs the current password; revokes every other token of the caller (and closes
    their sockets), keeps the one that asked."""
    pair = ("password", me["id"], None)
    ctx.throttles.login_failures.check(pair)
    state = ctx.teams.get(me["team_id"])
    # The current password as the engine has it: another process may have changed it.
    me = directory_sync.late_user(ctx, state, me["id"]) or me
    if not password_matches(me["password_hash"], current):
        ctx.throttles.login_failures.failed(pair)
        raise Forbidden("the current password is wrong", {"current_password": ["wrong password"]})
    ctx.throttles.login_failures.succeeded(pair)
    password_hash = hash_password(new)
    account_store.set_password_hash(ctx.engine, me["id"], password_hash)
    me["password_hash"] = password_hash   # the cached dict, which sockets here hold too
    tokens.revoke_all(ctx, me["id"], keep=digest)


_DUMMY_HASH = _hasher.hash("timing-equaliser")
