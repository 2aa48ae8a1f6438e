"""One WebSocket connection and its bounded outbox.

Events are queued (already encoded) and written by a short-lived writer greenlet, so a
publisher never waits on a slow socket. A client that lets ``limit`` frames pile up is
disconnected (close 1008) instead of being buffered without end.
"""
from collections import deque

import gevent

CLOSE_TOO_SLOW = 1008
CLOSE_UNAUTHORIZED = 4401
CLOSE_IDLE = 4408


class Connection:
    __slots__ = ("ws", "user", "token_hash", "session_id", "closed", "_outbox", "_limit",
                 "_writer", "__weakref__")

    def __init__(self, ws, limit: int):
        self.ws = ws
        self.user = None
        self.token_hash = None
        self.session_id = None
        self.closed = False
        self._outbox: deque = deque()
        self._limit = limit
        self._writer = None

    @property
    def user_id(self):
        return self.user["id"] if self.user else None

    def push(self, text: str):
        """Queue one encoded frame; never blocks."""
        if self.closed:
            return
        if len(self._outbox) >= self._limit:
            self.close(CLOSE_TOO_SLOW, "too slow: outgoing queue full")
            return
        self._outbox.append(text)
        if self._writer is None:
            self._writer = gevent.spawn(self._drain)

    def _drain(self):
        try:
            while self._outbox and not self.closed:
                item = self._outbox.popleft()
                if isinstance(item, tuple):  # a close queued behind earlier frames
                    self.close(*item)
                    break
                self.ws.send(item)
        except Exception:  # the peer went away: the read loop will notice and clean up
            self.closed = True
        finally:
            self._writer = None

    def close_after(self, code: int, reason: str = ""):
        """Close once the frames already queued (an error explaining why) are sent."""
        if not self.closed:
            self._outbox.append((code, reason))
            if self._writer is None:
                self._writer = gevent.spawn(self._drain)

    def close(self, code: int = 1000, reason: str = ""):
        if self.closed:
            return
        self.closed = True
        self._outbox.clear()
        try:
            self.ws.close(reason=code, message=reason)
        except Exception:
            pass
