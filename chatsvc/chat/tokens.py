"""Tokens: issue, check (idle timeout, absolute lifetime), revoke one or all.

The engine's tokens index is the truth. A process caches what it learnt of a token in a
bounded LRU (:class:`TokenCache`) and believes it for at most ``CHATSVC_TOKEN_RECHECK``
seconds, then asks the engine again with a realtime GET: so a token revoked through
another instance stops working here within that time, and nothing lives only here.
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
    used: float         # the latest use the engine knows of (or this process made)
    checked: float      # when this process last read it from the engine


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
    ctx.tokens.put(digest, CachedToken(user["id"], user["team_id"], now, now, now))


def _from_engine(ctx, digest: str, now: float) -> CachedToken:
    doc = account_store.get_token(ctx.engine, digest)
    if doc is None:
        ctx.tokens.pop(digest)
        raise Unauthorized("missing or invalid token")
    created = _seconds(doc.get("created_at")) or now
    used = _seconds(doc.get("used_at")) or created
    entry = ctx.tokens.get(digest)
    if entry is not None:   # this process may know of a later use not yet written
        used = max(used, entry.used)
    entry = CachedToken(doc["user_id"], doc["team_id"], created, used, now)
    ctx.tokens.put(digest, entry)
    return entry


def check(ctx, digest: str) -> CachedToken:
    """The live token's entry; Unauthorized when it is unknown, revoked or expired (an
    expired one is deleted). At most one engine read per token per recheck interval, and
    one write per token per quarter of the idle timeout (capped at 5 minutes)."""
    config = ctx.config
    now = time.time()
    entry = ctx.tokens.get(digest)
    if entry is None or now - entry.checked >= config.token_recheck:
        entry = _from_engine(ctx, digest, now)
    if now - entry.created > config.token_lifetime or now - entry.used > config.token_idle:
        revoke(ctx, digest)
        raise Unauthorized("token expired; log in again")
    if now - entry.used > min(config.token_idle / 4, 300.0):
        entry.used = now
        account_store.touch_token(ctx.engine, digest, _iso(now))
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


def still_live(ctx, digests: list[str]) -> set[str]:
    """Which of these tokens (held by open sockets) are still live: one multi-get, plus
    the expiry rules on what the cache knows."""
    live = account_store.live_tokens(ctx.engine, digests)
    now = time.time()
    config = ctx.config
    for digest in list(live):
        entry = ctx.tokens.get(digest)
        if entry is not None and (now - entry.created > config.token_lifetime):
            live.discard(digest)
    return live
