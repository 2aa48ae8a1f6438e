"""One WebSocket connection and its bounded outbox.

Events are queued as ready WebSocket frame bytes (chatsvc.gateway.codec.encode) and never
written by the publisher itself, so it never waits on a slow socket. Connections given
frames are flushed together once the publisher yields (one event-loop callback for all of
them): each gets everything queued in one non-blocking write, which on a healthy peer is
all it takes. Only what the kernel would not take is left to a writer greenlet. So a batch
of messages fanned out to many connections costs one write per connection, with no
greenlet per write. A client that lets ``limit`` frames pile up is
disconnected (its TCP connection dropped: a 1008 close frame could not get past the
frame it is stuck on) instead of being buffered without end.
"""
import logging
import socket
import time
from collections import deque

import gevent
from gevent.event import Event
from gevent.lock import Semaphore

log = logging.getLogger(__name__)
CLOSE_TOO_SLOW = 1008        # also: sending faster than served for too long (InputGate)
CLOSE_TOO_BIG = 1009
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

    __slots__ = ("_sock", "_lock", "_raw", "gate")

    def __init__(self, sock, gate: "InputGate | None" = None):
        self._sock = sock
        self._lock = Semaphore()
        # The OS-level socket under gevent's (non-blocking): writes that never yield.
        self._raw = getattr(sock, "_sock", None)
        self.gate = gate

    def recv(self, size: int) -> bytes:
        """simple_websocket's reader reads here: it waits while the connection's read-ahead
        is full (back-pressure: the kernel buffers fill and the client's sends block)."""
        if self.gate is not None:
            self.gate.wait_for_room()
        return self._sock.recv(size)

    def try_send(self, data) -> int:
        """Write what the kernel takes now, without yielding; 0 if another writer is mid-frame
        or the buffer is full. Raises OSError if the connection is gone. If only part of
        ``data`` went, the socket stays locked (nobody may write into the middle of that
        frame) until the caller finishes it with :meth:`send_locked`."""
        if self._raw is None or self._lock.locked():
            return 0
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            return 0
        if sent < len(data):
            self._lock.acquire()   # free a moment ago, and nothing ran since: no wait
        return sent

    def send_locked(self, rest):
        """Finish the frame that :meth:`try_send` began, then let other writers in."""
        try:
            self._sock.sendall(rest)
        finally:
            self._lock.release()

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


class InputGate:
    """Bounds what simple_websocket's reader greenlet reads ahead of the gateway.

    At most ``frames`` decoded frames wait in its input buffer: when full, the reader
    stops reading the socket (the kernel buffers fill and the client's sends block). A
    client that keeps more than half of that waiting for ``stall`` seconds on end sends
    faster than it is served: it is closed with 1008 and dropped. A client with a bounded
    window of frames in flight (fewer than half) never is."""

    __slots__ = ("ws", "frames", "stall", "_room", "_behind_since", "overflowed")

    def __init__(self, ws, frames: int, stall: float):
        self.ws, self.frames, self.stall = ws, frames, stall
        self._room = Event()
        self._behind_since = None
        self.overflowed = False

    def wait_for_room(self):
        buffered = self.ws.input_buffer
        if len(buffered) <= self.frames // 2:
            self._behind_since = None
            return
        if self._behind_since is None:
            self._behind_since = time.monotonic()
        while True:
            left = self.stall - (time.monotonic() - self._behind_since)
            if left <= 0:
                self._drop()
            if len(buffered) < self.frames:
                return
            self._room.clear()
            self._room.wait(left)

    def _drop(self):
        self.overflowed = True
        try:
            self.ws.close(reason=CLOSE_TOO_SLOW, message="sending faster than served")
        except Exception:
            pass
        raise OSError("the client sends faster than it is served")

    def consumed(self):
        """The gateway took a frame: room for the reader again."""
        self._room.set()


_dirty: list = []   # connections with frames queued since the last flush


def _flush_dirty():
    conns = _dirty[:]
    _dirty.clear()
    for conn in conns:
        try:
            conn._flush()
        except Exception:  # one broken connection must not leave the others unflushed
            log.exception("flushing a connection failed")
            conn._abort()


def _mark_dirty(conn):
    if not _dirty:
        gevent.get_hub().loop.run_callback(_flush_dirty)
    _dirty.append(conn)


class Connection:
    __slots__ = ("ws", "user", "token_hash", "session_id", "closed", "used_at", "_outbox",
                 "_limit", "_writer", "_dirty", "__weakref__")

    def __init__(self, ws, limit: int):
        self.ws = ws
        self.user = None
        self.token_hash = None
        self.session_id = None
        self.closed = False
        # Unix time of the latest command frame (0: none yet): a use of the token, which
        # the TokenWatch reports for the idle timeout. Heartbeats do not count.
        self.used_at = 0.0
        self._outbox: deque = deque()
        self._limit = limit
        self._writer = None
        self._dirty = False

    @property
    def queued(self) -> int:
        """Frames waiting in the outbox (a gauge of /metrics)."""
        return len(self._outbox)

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
        if self._writer is None and not self._dirty:
            self._dirty = True
            _mark_dirty(self)

    def _flush(self):
        """Write the queued frames without yielding; leave the rest to a writer greenlet.
        Runs in the event loop's callback: it must never block."""
        self._dirty = False
        outbox = self._outbox
        if self._writer is not None or self.closed or not outbox:
            return
        try:
            if not isinstance(outbox[0], tuple) and self.ws.connected:
                data = self._take_chunk()
                sent = self.ws.sock.try_send(data)
                if 0 < sent < len(data):   # the socket is held for the rest of the frame
                    self._writer = gevent.spawn(self._finish_then_drain, data[sent:])
                    return
                if sent == 0:
                    outbox.appendleft(data)
        except Exception:  # the peer went away: the read loop will notice and clean up
            self.closed = True
            return
        if outbox:  # a full socket buffer, or a close queued behind the frames
            self._writer = gevent.spawn(self._drain)

    def _take_chunk(self) -> bytes:
        """The queued frames up to the next close marker, at most ~COALESCE_BYTES, joined."""
        outbox = self._outbox
        chunk, size = [], 0
        while outbox and size < COALESCE_BYTES and not isinstance(outbox[0], tuple):
            frame = outbox.popleft()
            chunk.append(frame)
            size += len(frame)
        return chunk[0] if len(chunk) == 1 else b"".join(chunk)

    def _finish_then_drain(self, rest):
        try:
            self.ws.sock.send_locked(rest)
        except Exception:
            self.closed = True
            self._writer = None
            return
        self._drain()

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
                self.ws.sock.send(self._take_chunk())
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
        if self._writer is None and self._outbox and not self.closed:
            self._writer = gevent.spawn(self._drain)
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
