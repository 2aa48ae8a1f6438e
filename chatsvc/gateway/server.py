"""The life of one ``/ws`` connection: authenticate, then read frames until it ends.

First frame within ``auth_timeout``: ``auth`` -> ``ready``; anything else before it gets
an error and the wait goes on; a bad token gets ``unauthorized`` and close 4401. After
that each frame is rate-limited, decoded, handed to its command, and answered; failures
become ``error`` frames and the connection stays. Silence longer than the heartbeat
timeout closes it. Frames over the size limit are closed with 1009 by the WebSocket
layer itself (SOCK_SERVER_OPTIONS.max_message_size).
"""
import logging
import time
import uuid

import gevent
from gevent.event import Event
from simple_websocket import ConnectionClosed

from chatsvc import jsonfast
from chatsvc.errors import ChatError, InternalError, RateLimited, Unauthorized
from chatsvc.gateway import codec
from chatsvc.gateway.commands import HANDLERS
from chatsvc.gateway.connection import CLOSE_IDLE, CLOSE_UNAUTHORIZED, Connection, WholeFrameSocket
from chatsvc.ratelimit import TokenBucket

log = logging.getLogger(__name__)
CLOSE_TRY_LATER = 1013


class Gateway:
    """``authenticate(token) -> (user, public_user, token_hash)``; ``ctx`` is handed to the
    command functions untouched."""

    def __init__(self, config, hub, ctx, authenticate):
        self.config = config
        self.hub = hub
        self.ctx = ctx
        self.authenticate = authenticate

    def serve(self, ws):
        ws.sock = WholeFrameSocket(ws.sock)
        conn = Connection(ws, self.config.outbox_size)
        try:
            if not self._handshake(conn):
                conn.flush()  # the error and the 4401 close go out before flask-sock's own close
                return
            self.hub.attach(conn)
            try:
                self._read_loop(conn)
            finally:
                self.hub.detach(conn)
        except ConnectionClosed:
            pass

    def _answer(self, conn, frame: dict, ref):
        if ref is not None:
            frame = {**frame, "ref": ref}
        conn.push(codec.encode(frame))

    def _error(self, conn, error, ref):
        conn.push(codec.encode(codec.error_frame(error, ref)))

    def _handshake(self, conn) -> bool:
        deadline = time.monotonic() + self.config.auth_timeout
        while True:
            raw = conn.ws.receive(timeout=max(0.0, deadline - time.monotonic()))
            if raw is None:
                self._error(conn, Unauthorized("authentication timed out"), None)
                conn.close_after(CLOSE_UNAUTHORIZED, "authentication timed out")
                return False
            try:
                kind, ref, data = codec.decode(raw)
            except ChatError as exc:
                self._error(conn, exc, getattr(exc, "ref", None))
                continue
            if kind != "auth":
                self._error(conn, Unauthorized("authenticate first: send an auth frame"), ref)
                continue
            try:
                user, public, token_hash = self.authenticate(data["token"])
            except Unauthorized as exc:
                self._error(conn, exc, ref)
                conn.close_after(CLOSE_UNAUTHORIZED, "unauthorized")
                return False
            except ChatError as exc:  # engine unavailable: say so, let the client retry
                self._error(conn, exc, ref)
                conn.close_after(CLOSE_TRY_LATER, exc.code)
                return False
            conn.user, conn.token_hash = user, token_hash
            conn.session_id = uuid.uuid4().hex
            self._answer(conn, {"type": "ready", "user": public, "session_id": conn.session_id}, ref)
            return True

    def _read_loop(self, conn):
        bucket = TokenBucket(self.config.frame_rate, self.config.frame_burst)
        pool = _InFlight(self.config.sends_in_flight)
        while not conn.closed:
            raw = conn.ws.receive(timeout=self.config.heartbeat_timeout)
            if raw is None:
                if conn.ws.connected:
                    conn.close(CLOSE_IDLE, "no frame within the heartbeat timeout")
                return
            if conn.closed:
                return
            if not bucket.take():
                ref = codec.peek_ref(_try_json(raw))
                self._error(conn, RateLimited("too many frames; slow down"), ref)
                continue
            self._handle(conn, raw, pool)

    def _handle(self, conn, raw, pool):
        try:
            kind, ref, data = codec.decode(raw)
        except ChatError as exc:
            self._error(conn, exc, getattr(exc, "ref", None))
            return
        if kind == "send":
            # Sends are pipelined: each waits only for its own group commit, so one
            # connection may have several in flight (the pool bounds how many).
            pool.spawn(self._run, conn, kind, ref, data)
        else:
            self._run(conn, kind, ref, data)

    def _run(self, conn, kind, ref, data):
        try:
            if kind == "auth":
                self._answer(conn, {"type": "ok"}, ref)  # already authenticated: harmless
                return
            self._answer(conn, HANDLERS[kind](self.ctx, conn.user, data), ref)
        except ChatError as exc:
            self._error(conn, exc, ref)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("%s frame failed", kind)
            self._error(conn, InternalError("internal error"), ref)


class _InFlight:
    """At most ``limit`` calls running at once, each in a bare greenlet (a send costs one;
    gevent.pool's bookkeeping per greenlet showed on the send path). ``spawn`` waits for a
    free place, so a connection with ``limit`` sends outstanding stops being read."""

    __slots__ = ("_running", "_limit", "_room")

    def __init__(self, limit: int):
        self._running = 0
        self._limit = limit
        self._room = Event()
        self._room.set()

    def spawn(self, fn, *args):
        while self._running >= self._limit:
            self._room.clear()
            self._room.wait()
        self._running += 1
        gevent.spawn_raw(self._call, fn, args)

    def _call(self, fn, args):
        try:
            fn(*args)
        finally:
            self._running -= 1
            self._room.set()


def _try_json(raw):
    try:
        return jsonfast.loads(raw)
    except Exception:
        return None
