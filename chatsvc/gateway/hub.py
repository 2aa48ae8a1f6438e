"""The session registry, presence and fan-out.

Which user is on which connections, which connections hold which token, and when a user
counts as online: from her first connection until her last one has been closed for
``grace`` seconds, so a quick reconnect does not flap. Presence changes are reported to
one callback; who should hear about them is business logic, not the hub's concern.
"""
import logging

import gevent

from chatsvc import metrics
from chatsvc.gateway.codec import encode
from chatsvc.gateway.connection import CLOSE_UNAUTHORIZED, Connection
from chatsvc.ids import now_iso

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, grace: float):
        self.grace = grace
        self.by_user: dict[str, set[Connection]] = {}
        self.by_token: dict[str, set[Connection]] = {}
        self.last_seen: dict[str, str] = {}
        self._offline_timers: dict[str, gevent.Greenlet] = {}
        self.on_presence = None  # callable(user: dict, status: str, last_seen: str | None)

    # -- sessions --------------------------------------------------------------------
    def attach(self, conn: Connection):
        uid = conn.user_id
        was_online = bool(self.by_user.get(uid)) or uid in self._offline_timers
        self.by_user.setdefault(uid, set()).add(conn)
        self.by_token.setdefault(conn.token_hash, set()).add(conn)
        timer = self._offline_timers.pop(uid, None)
        if timer is not None:
            timer.kill(block=False)  # back within the grace period: still online
        if not was_online:
            self._report(conn.user, "online", None)

    def detach(self, conn: Connection):
        uid = conn.user_id
        conns = self.by_user.get(uid)
        if conns is None or conn not in conns:
            return
        conns.discard(conn)
        tokens = self.by_token.get(conn.token_hash)
        if tokens is not None:
            tokens.discard(conn)
            if not tokens:
                del self.by_token[conn.token_hash]
        if not conns:
            del self.by_user[uid]
            self.last_seen[uid] = now_iso()
            self._offline_timers[uid] = gevent.spawn_later(self.grace, self._went_offline, conn.user)

    def _went_offline(self, user: dict):
        uid = user["id"]
        self._offline_timers.pop(uid, None)
        if not self.by_user.get(uid):
            self._report(user, "offline", self.last_seen.get(uid))

    def _report(self, user: dict, status: str, last_seen):
        if self.on_presence is None:
            return
        try:
            self.on_presence(user, status, last_seen)
        except Exception:  # presence is best effort; the connection must not die of it
            log.exception("presence callback failed for %s", user["id"])

    # -- the Publisher interface chat/ uses --------------------------------------------
    def publish(self, user_ids, event: dict):
        data = encode(event)  # once, whatever the number of connections
        delivered = 0
        for uid in user_ids:
            for conn in tuple(self.by_user.get(uid, ())):
                conn.push(data)
                delivered += 1
        metrics.FANOUT_EVENTS.inc()
        metrics.FANOUT_DELIVERIES.inc(delivered)

    def disconnect_token(self, token_hash: str, message: str = "logged out",
                         reason: str = "token revoked"):
        for conn in tuple(self.by_token.get(token_hash, ())):
            conn.push(encode({"type": "error", "code": "unauthorized", "message": message}))
            conn.close_after(CLOSE_UNAUTHORIZED, reason)

    def token_uses(self) -> dict[str, float]:
        """Token hash -> the latest command frame on any of its open sockets (0: none)."""
        return {digest: max(conn.used_at for conn in conns)
                for digest, conns in self.by_token.items() if conns}

    def presence_of(self, user_id: str):
        online = bool(self.by_user.get(user_id)) or user_id in self._offline_timers
        return ("online" if online else "offline"), self.last_seen.get(user_id)
