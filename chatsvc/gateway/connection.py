"""One WebSocket connection and its bounded outbox.

Events are queued as ready WebSocket frame bytes (chatsvc.gateway.codec.encode) and written
by a short-lived writer greenlet, so a publisher never waits on a slow socket; frames that
piled up meanwhile go out together in one write. A client that lets ``limit`` frames pile up is
disconnected (its TCP connection dropped: a 1008 close frame could not get past the
frame it is stuck on) instead of being buffered without end.
"""
import socket
from collections import deque

import gevent
from gevent.lock import Semaphore

CLOSE_TOO_SLOW = 1008
CLOSE_UNAUTHORIZED = 4401
CLOSE_IDLE = 4408
SEND_LOCK_TIMEOUT = 10.0
COALESCE_BYTES = 256 * 1024  # at most this much queued data in one write


class WholeFrameSocket:
    """The socket under a simple_websocket connection, made safe for gevent.

    simple_websocket writes with ``sock.send(data)`` and ignores the count; a gevent socket
    sends only what fits in the kernel buffer, so a large frame to a busy peer was cut short
    and the stream corrupted. Here every send writes everything (``sendall``), one writer at
    a time (the outbox writer and the reader's pong/close replies share the socket).
    """

    __slots__ = ("_sock", "_lock")

    def __init__(self, sock):
        self._sock = sock
        self._lock = Semaphore()

    def send(self, data) -> int:
        if not self._lock.acquire(timeout=SEND_LOCK_TIMEOUT):
            raise OSError("socket busy: the peer is not reading")
        try:
            self._sock.sendall(data)
        finally:
            self._lock.release()
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


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

    def push(self, frame: bytes):
        """Queue one encoded frame (wire bytes); never blocks."""
        if self.closed:
            return
        if len(self._outbox) >= self._limit:
            self._abort()
            return
        self._outbox.append(frame)
        if self._writer is None:
            self._writer = gevent.spawn(self._drain)

    def _drain(self):
        outbox = self._outbox
        try:
            while outbox and not self.closed:
                if isinstance(outbox[0], tuple):  # a close queued behind earlier frames
                    self.close(*outbox.popleft())
                    break
                if not self.ws.connected:
                    self.closed = True
                    break
                chunk, size = [], 0
                while outbox and size < COALESCE_BYTES and not isinstance(outbox[0], tuple):
                    frame = outbox.popleft()
                    chunk.append(frame)
                    size += len(frame)
                self.ws.sock.send(chunk[0] if len(chunk) == 1 else b"".join(chunk))
        except Exception:  # the peer went away: the read loop will notice and clean up
            self.closed = True
        finally:
            self._writer = None

    def _abort(self):
        """Drop a peer that stopped reading. Its writer is stuck mid-frame on a full socket,
        so no close frame (1008) could reach it in order; end the TCP connection instead,
        without waiting: the publisher that noticed must not stall on this peer."""
        self.closed = True
        self._outbox.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.kill(block=False)
        try:
            self.ws.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader: the read loop ends
        except Exception:
            pass

    def flush(self, timeout: float = 5.0):
        """Wait, at most ``timeout`` s, until queued frames (and a queued close) are written."""
        writer = self._writer
        if writer is not None:
            writer.join(timeout)

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
