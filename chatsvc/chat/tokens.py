"""Tokens: issue, check (idle timeout, absolute lifetime), revoke one or all.

The engine's tokens index is the truth. A process caches what it learnt of a token in a
bounded LRU (:class:`TokenCache`) and believes it for at most ``CHATSVC_TOKEN_RECHECK``
seconds, then asks the engine again with a realtime GET: so a token revoked through
another instance stops working here within that time, and nothing lives only here.

A use is a REST call with the token or a command frame on a socket it opened (the gateway
notes the time of each; :func:`check_sockets` reads those times every recheck interval).
Either is written to the engine (``used_at``) at most once per quarter of the idle timeout
(capped at 5 minutes), socket uses in one ``_bulk`` per round: never one write per call or
frame, and every instance sees a use within that quarter.
"""
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

from chatsvc.errors import Unauthorized
from chatsvc.ids import format_time
from chatsvc.store import accounts as account_store


@dataclass(slots=True)
class CachedToken:
    user_id: str
    team_id: str
    created: float      # unix seconds
    used: float         # the latest use the engine knows of, or this process saw
    checked: float      # when this process last read it from the engine
    stored: float       # the used_at the engine holds, as far as this process knows


class TokenCache:
    """Token hash -> CachedToken, at most ``size`` entries (least recently used go)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()

    def get(self, digest: str) -> CachedToken | None:
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries.move_to_end(digest)
        return entry

    def put(self, digest: str, entry: CachedToken):
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def pop(self, digest: str):
        self._entries.pop(digest, None)

    def forget_team(self, team_id: str):
        """Drop every cached token of one team (it moved here from another instance:
        a token revoked there meanwhile must be read from the engine again)."""
        for digest in [d for d, e in self._entries.items() if e.team_id == team_id]:
            del self._entries[digest]

    def __len__(self):
        return len(self._entries)

    def __contains__(self, digest):
        return digest in self._entries


def _iso(seconds: float) -> str:
    return format_time(datetime.fromtimestamp(seconds, timezone.utc))


def _seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def store_new(ctx, digest: str, user: dict):
    """A token just issued: in the engine first, then in the cache."""
    now = time.time()
    account_store.put_token(ctx.engine, digest, user["id"], user["team_id"], _iso(now))
    ctx.tokens.put(digest, CachedToken(user["id"], user["team_id"], now, now, now, now))


def _remember(ctx, digest: str, doc: dict, now: float) -> CachedToken:
    """The cache entry for a token document just read from the engine."""
    created = _seconds(doc.get("created_at")) or now
    stored = _seconds(doc.get("used_at")) or created
    used = stored
    entry = ctx.tokens.get(digest)
    if entry is not None:   # this process may know of a later use not yet written
        used = max(used, entry.used)
    entry = CachedToken(doc["user_id"], doc["team_id"], created, used, now, stored)
    ctx.tokens.put(digest, entry)
    return entry


def _from_engine(ctx, digest: str, now: float) -> CachedToken:
    doc = account_store.get_token(ctx.engine, digest)
    if doc is None:
        ctx.tokens.pop(digest)
        raise Unauthorized("missing or invalid token")
    return _remember(ctx, digest, doc, now)


def _expired(config, entry: CachedToken, now: float) -> bool:
    return now - entry.created > config.token_lifetime or now - entry.used > config.token_idle


def _write_due(config, entry: CachedToken) -> bool:
    """A use is written once the engine's used_at lags it by a quarter of the idle timeout
    (capped at 5 minutes): other instances then never see a token idler than it is by more
    than that, and a busy token costs one write per quarter, not one per use."""
    return entry.used - entry.stored > min(config.token_idle / 4, 300.0)


def check(ctx, digest: str) -> CachedToken:
    """The live token's entry; Unauthorized when it is unknown, revoked or expired (an
    expired one is deleted). At most one engine read per token per recheck interval, and
    one write per token per quarter of the idle timeout (capped at 5 minutes)."""
    config = ctx.config
    now = time.time()
    entry = ctx.tokens.get(digest)
    if entry is None or now - entry.checked >= config.token_recheck:
        entry = _from_engine(ctx, digest, now)
    if _expired(config, entry, now):
        revoke(ctx, digest)
        raise Unauthorized("token expired; log in again")
    entry.used = now
    if _write_due(config, entry):
        account_store.touch_token(ctx.engine, digest, _iso(now))
        entry.stored = now
    return entry


def revoke(ctx, digest: str):
    """One token: gone from the engine and this cache, its sockets here closed."""
    account_store.delete_token(ctx.engine, digest)
    ctx.tokens.pop(digest)
    ctx.publisher.disconnect_token(digest)


def revoke_all(ctx, user_id: str, keep: str | None = None) -> int:
    """Every token of the user but ``keep``; how many. Other instances notice within the
    recheck interval (their cached entries expire; their sockets are re-checked)."""
    hashes = account_store.delete_user_tokens(ctx.engine, user_id, keep)
    for digest in hashes:
        ctx.tokens.pop(digest)
        ctx.publisher.disconnect_token(digest)
    return len(hashes)


def check_sockets(ctx, uses: dict[str, float]) -> dict[str, str]:
    """The gateway's recheck of the tokens its open sockets hold: ``uses`` maps each to
    the latest command frame on its sockets (0: none). Returns the tokens whose sockets
    must close, each with why: ``revoked`` (gone from the engine) or ``expired`` (idle or
    lifetime, counting those frames as uses; deleted from the engine). One realtime
    multi-get, at most one bulk of uses and one of deletes, whatever the number of sockets."""
    now, config = time.time(), ctx.config
    docs = account_store.token_docs(ctx.engine, list(uses))
    closing = {digest: "revoked" for digest in uses if digest not in docs}
    for digest in closing:
        ctx.tokens.pop(digest)
    due = {}
    for digest, doc in docs.items():
        entry = _remember(ctx, digest, doc, now)
        entry.used = max(entry.used, uses[digest])
        if _expired(config, entry, now):
            closing[digest] = "expired"
            ctx.tokens.pop(digest)
        elif _write_due(config, entry):
            due[digest] = entry
    account_store.touch_tokens(ctx.engine, {d: _iso(e.used) for d, e in due.items()})
    for entry in due.values():
        entry.stored = entry.used
    account_store.delete_tokens(ctx.engine, [d for d, why in closing.items() if why == "expired"])
    return closing
