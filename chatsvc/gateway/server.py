"""The life of one ``/ws`` connection: authenticate, then read frames until it ends.

First frame within ``auth_timeout``: ``auth`` -> ``ready``; anything else before it gets
an error and the wait goes on; a bad token gets ``unauthorized`` and close 4401. After
that each frame is rate-limited, decoded, handed to its command, and answered; failures
become ``error`` frames and the connection stays. Silence longer than the heartbeat
timeout closes it. Frames over the size limit are closed with 1009 by the WebSocket
layer itself (SOCK_SERVER_OPTIONS.max_message_size).

The gateway serves ``auth`` and ``ping`` itself (they are about the connection). Every
other frame type is a :class:`Command` of the table it is given (chatsvc.api.frames): the
gateway never knows what a frame means, only whether it may run alongside others.
"""
import logging
import math
import time
import uuid
from typing import Mapping, Protocol

import gevent
from gevent.event import Event
from simple_websocket import ConnectionClosed

from chatsvc import jsonfast, metrics
from chatsvc.errors import ChatError, InternalError, RateLimited, Unauthorized
from chatsvc.gateway import codec
from chatsvc.gateway.connection import (CLOSE_IDLE, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED, Connection,
                                        InputGate, WholeFrameSocket)
from chatsvc.ratelimit import TokenBucket

log = logging.getLogger(__name__)
CLOSE_TRY_LATER = 1013


class Command(Protocol):
    """What serves one client frame type."""

    #: True when frames of this type may run concurrently on one connection (each waits
    #: only for its own work, e.g. a send for its group commit), up to sends_in_flight.
    pipelined: bool

    def order_key(self, frame: dict):
        """For a pipelined command: frames of one connection with the same key (e.g. the
        message they change) run one after another, in the order they came; None: no
        order with any other frame."""

    def __call__(self, user: dict, frame: dict) -> dict | None:
        """The answer frame (``ref`` is added by the gateway), None for no answer;
        ChatError for a refusal."""


class Gateway:
    """``authenticate(token) -> (user, public_user, token_hash)``; ``commands`` maps each
    client frame type but auth and ping to its Command."""

    def __init__(self, config, hub, authenticate, commands: Mapping[str, Command],
                 check_tokens=None):
        """``check_tokens(uses) -> {token_hash: "revoked" | "expired"}`` (optional): given
        each open socket's token and its latest use, which must close; asked every
        CHATSVC_TOKEN_RECHECK seconds (TokenWatch)."""
        self.config = config
        self.hub = hub
        self.authenticate = authenticate
        self.commands = commands
        self.watch = TokenWatch(hub, check_tokens, config.token_recheck) if check_tokens else None

    def serve(self, ws):
        gate = InputGate(ws, self.config.ws_input_frames, self.config.ws_input_stall)
        ws.sock = WholeFrameSocket(ws.sock, gate)
        conn = Connection(ws, self.config.outbox_size)
        if self.watch is not None:
            self.watch.start()
        try:
            if not self._handshake(conn):
                conn.flush()  # the error and the 4401 close go out before flask-sock's own close
                return
            self.hub.attach(conn)
            try:
                self._read_loop(conn, gate)
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
                kind, ref, frame = self._decode(raw)
                if kind != "auth":
                    self._error(conn, Unauthorized("authenticate first: send an auth frame"), ref)
                    continue
                token = codec.auth_token(frame, ref)
            except ChatError as exc:
                self._error(conn, exc, getattr(exc, "ref", None))
                continue
            try:
                user, public, token_hash = self.authenticate(token)
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

    def _read_loop(self, conn, gate):
        bucket = TokenBucket(self.config.frame_rate, self.config.frame_burst)
        pool = _InFlight(self.config.sends_in_flight)
        ordered = _Ordered()
        max_bytes = self.config.max_frame_bytes
        while not conn.closed:
            raw = conn.ws.receive(timeout=self.config.heartbeat_timeout)
            gate.consumed()
            if raw is None:
                if conn.ws.connected:
                    metrics.CLOSES.labels("idle").inc()
                    conn.close(CLOSE_IDLE, "no frame within the heartbeat timeout")
                return
            if conn.closed or gate.overflowed:
                if gate.overflowed:
                    metrics.CLOSES.labels("flooding").inc()
                return
            if _too_big(raw, max_bytes):
                metrics.CLOSES.labels("too_big").inc()
                conn.close(CLOSE_TOO_BIG, f"frame over {max_bytes} bytes")
                return
            if not bucket.take():
                metrics.throttled("frames")
                ref = codec.peek_ref(_try_json(raw))
                error = RateLimited("too many frames; slow down")
                error.retry_after = max(1, math.ceil(bucket.retry_after()))
                self._error(conn, error, ref)
                continue
            self._handle(conn, raw, pool, ordered)

    def _decode(self, raw) -> tuple[str, str | None, dict]:
        kind, ref, frame = codec.decode(raw)
        if kind not in self.commands and kind not in _OWN_FRAMES:
            raise codec.unknown_type(kind, ref)
        return kind, ref, frame

    def _handle(self, conn, raw, pool, ordered):
        try:
            kind, ref, frame = self._decode(raw)
        except ChatError as exc:
            metrics.frame_counter("invalid", exc.code).inc()
            self._error(conn, exc, getattr(exc, "ref", None))
            return
        if kind in _OWN_FRAMES:
            metrics.frame_counter(kind, "ok").inc()
            self._answer(conn, _OWN_FRAMES[kind], ref)
            return
        command = self.commands[kind]
        conn.used_at = time.time()   # a use of the token (TokenWatch); pings are not
        if command.pipelined:
            # Each waits only for its own work, so one connection may have several in
            # flight (the pool bounds how many).
            key = command.order_key(frame)
            if key is None:
                pool.spawn(self._run, conn, command, kind, ref, frame)
            else:
                pool.spawn(ordered.run, key, self._run, conn, command, kind, ref, frame)
        else:
            self._run(conn, command, kind, ref, frame)

    def _run(self, conn, command: Command, kind, ref, frame):
        try:
            answer = command(conn.user, frame)
            metrics.frame_counter(kind, "ok").inc()
            if answer is not None:
                self._answer(conn, answer, ref)
        except ChatError as exc:
            metrics.frame_counter(kind, exc.code).inc()
            self._error(conn, exc, ref)
        except ConnectionClosed:
            pass
        except Exception:
            metrics.frame_counter(kind, "internal_error").inc()
            log.exception("%s frame failed", kind)
            self._error(conn, InternalError("internal error"), ref)


# Frames about the connection itself, answered by the gateway. ``auth`` once authenticated
# is harmless.
_OWN_FRAMES = {"auth": {"type": "ok"}, "ping": {"type": "pong"}}


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


class _Ordered:
    """Runs calls that share a key one after another, in the order they were handed over,
    while calls of other keys go on beside them (one connection's frames about one message:
    a react must not overtake the unreact sent before it)."""

    __slots__ = ("_last",)

    def __init__(self):
        self._last: dict = {}   # key -> Event of the latest call queued under it

    def run(self, key, fn, *args):
        before = self._last.get(key)
        done = self._last[key] = Event()
        try:
            if before is not None:
                before.wait()
            fn(*args)
        finally:
            done.set()
            if self._last.get(key) is done:
                del self._last[key]


def _too_big(raw, max_bytes: int) -> bool:
    """The frame limit counts UTF-8 bytes (the WebSocket layer below counts characters
    of a text frame, up to 4 bytes each): encode only frames that might be over."""
    if isinstance(raw, str):
        return len(raw) > max_bytes // 4 and len(raw.encode("utf-8", "surrogatepass")) > max_bytes
    return len(raw) > max_bytes


# What a socket closed by the TokenWatch is told: (error message, close reason).
_TOKEN_CLOSES = {"revoked": ("logged out", "token revoked"),
                 "expired": ("token expired; log in again", "token expired")}


class TokenWatch:
    """Every ``every`` seconds, hands the tokens held by open sockets, each with its latest
    use (a command frame), to ``check_tokens`` (one engine multi-get per 1,000 tokens) and
    closes with 4401 the sockets of those it names: a logout, password change or expiry
    made through another instance, or a token idle or old past its limits while its socket
    stays open, reaches the sockets here within that time. Started with the first
    connection."""

    def __init__(self, hub, check_tokens, every: float):
        self.hub, self.check_tokens, self.every = hub, check_tokens, every
        self._greenlet = None

    def start(self):
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _run(self):
        while True:
            gevent.sleep(self.every)
            try:
                self.check_once()
            except Exception as exc:   # the engine may be down: try again next round
                log.warning("token re-check failed: %s", exc)

    def check_once(self):
        held = list(self.hub.token_uses().items())
        for start in range(0, len(held), 1000):
            closing = self.check_tokens(dict(held[start:start + 1000]))
            for digest, why in closing.items():
                metrics.CLOSES.labels(f"token_{why}").inc()
                self.hub.disconnect_token(digest, *_TOKEN_CLOSES[why])


def _try_json(raw):
    try:
        return jsonfast.loads(raw)
    except Exception:
        return None
