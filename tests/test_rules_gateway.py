"""The gateway's two pieces of pure logic, in process: the hub (sessions, presence with its
grace period, fan-out, revocation) over minimal connection objects, and one connection's
outbox over a real socket pair, read byte for byte from the other end."""
import json
import socket
import struct

import gevent
import gevent.socket
import pytest

from chatsvc.gateway.codec import encode
from chatsvc.gateway.connection import CLOSE_UNAUTHORIZED, Connection, WholeFrameSocket
from chatsvc.gateway.hub import Hub

GRACE = 0.3


def decode_frames(data: bytes) -> list[dict]:
    """The JSON of each unmasked server text frame in ``data`` (which must end on a frame)."""
    frames = []
    while data:
        assert data[0] == 0x81, data[:2]
        n, start = data[1], 2
        if n == 126:
            (n,), start = struct.unpack("!H", data[2:4]), 4
        elif n == 127:
            (n,), start = struct.unpack("!Q", data[2:10]), 10
        frames.append(json.loads(data[start:start + n]))
        data = data[start + n:]
    return frames


# ---------------------------------------------------------------------------- the hub

class Session:
    """What the hub needs of a connection: its user and token, push and close_after."""

    def __init__(self, user: dict, token_hash: str):
        self.user, self.token_hash = user, token_hash
        self.pushed: list[bytes] = []
        self.closed_with = None

    @property
    def user_id(self):
        return self.user["id"]

    def push(self, frame: bytes):
        self.pushed.append(frame)

    def close_after(self, code: int, reason: str = ""):
        self.closed_with = (code, reason)


@pytest.fixture
def hub():
    hub = Hub(GRACE)
    hub.reports = []
    hub.on_presence = lambda user, status, last_seen: hub.reports.append((user["id"], status, last_seen))
    return hub


ANN, BOB, CAT = ({"id": name} for name in ("ann", "bob", "cat"))


def test_online_at_the_first_connection_offline_a_grace_after_the_last(hub):
    first, second = Session(ANN, "t1"), Session(ANN, "t2")
    assert hub.presence_of("ann") == ("offline", None)
    hub.attach(first)
    hub.attach(second)
    assert hub.reports == [("ann", "online", None)]
    hub.detach(first)
    hub.detach(second)
    hub.detach(second)   # twice, or a connection it never had: nothing happens
    hub.detach(Session(BOB, "t3"))
    assert hub.reports == [("ann", "online", None)]
    assert hub.presence_of("ann")[0] == "online", "still online during the grace period"
    gevent.sleep(GRACE / 2)
    assert len(hub.reports) == 1
    gevent.sleep(GRACE)
    (_, (who, status, last_seen)) = hub.reports
    assert (who, status) == ("ann", "offline") and last_seen.endswith("Z")
    assert hub.presence_of("ann") == ("offline", last_seen)


def test_a_reconnect_within_the_grace_period_does_not_flap(hub):
    hub.attach(Session(ANN, "t1"))
    for _ in range(3):   # the connection drops and comes back, again and again
        gone = next(iter(hub.by_user["ann"]))
        hub.detach(gone)
        gevent.sleep(GRACE / 3)
        hub.attach(Session(ANN, "t1"))
    gevent.sleep(GRACE * 2)
    assert hub.reports == [("ann", "online", None)]
    assert hub.presence_of("ann") == ("online", hub.last_seen["ann"])
    hub.detach(next(iter(hub.by_user["ann"])))
    gevent.sleep(GRACE * 2)
    assert [status for _, status, _ in hub.reports] == ["online", "offline"]


def test_a_failing_presence_callback_does_not_fail_the_session(hub):
    def broken(user, status, last_seen):
        raise RuntimeError("presence store down")
    hub.on_presence = broken
    session = Session(ANN, "t1")
    hub.attach(session)
    hub.publish(["ann"], {"type": "ping"})
    assert session.pushed == [encode({"type": "ping"})]


def test_publish_goes_to_every_connection_of_each_user_once(hub):
    ann1, ann2, bob1, cat1 = Session(ANN, "a1"), Session(ANN, "a2"), Session(BOB, "b1"), Session(CAT, "c1")
    for session in (ann1, ann2, bob1, cat1):
        hub.attach(session)
    event = {"type": "message", "message": {"id": "1", "body": "hi"}}
    hub.publish(["ann", "bob", "nobody"], event)
    assert [s.pushed for s in (ann1, ann2, bob1)] == [[encode(event)]] * 3
    assert ann1.pushed[0] is bob1.pushed[0], "encoded once, whatever the number of connections"
    assert cat1.pushed == []
    hub.detach(ann2)
    hub.publish(["ann"], {"type": "n", "n": 2})
    assert decode_frames(b"".join(ann1.pushed)) == [event, {"type": "n", "n": 2}]
    assert len(ann2.pushed) == 1


def test_disconnect_token_closes_only_that_tokens_connections(hub):
    phone, laptop = Session(ANN, "revoked"), Session(ANN, "revoked")
    tablet, bobs = Session(ANN, "kept"), Session(BOB, "other")
    for session in (phone, laptop, tablet, bobs):
        hub.attach(session)
    hub.disconnect_token("revoked")
    for session in (phone, laptop):
        assert decode_frames(b"".join(session.pushed)) == [
            {"type": "error", "code": "unauthorized", "message": "logged out"}]
        assert session.closed_with == (CLOSE_UNAUTHORIZED, "token revoked")
    for session in (tablet, bobs):
        assert session.pushed == [] and session.closed_with is None
    hub.disconnect_token("no-such-token")
    hub.publish(["ann"], {"type": "still"})
    assert tablet.pushed == [encode({"type": "still"})]


# ---------------------------------------------------------------------------- the outbox

class CountingSocket(WholeFrameSocket):
    """The gateway's socket wrapper, counting the non-blocking writes it is asked for."""

    def __init__(self, sock):
        super().__init__(sock)
        self.attempts = 0

    def try_send(self, data) -> int:
        self.attempts += 1
        return super().try_send(data)


class ServerEnd:
    """What a Connection needs of its WebSocket: ``sock``, ``connected`` and ``close``."""

    def __init__(self, sock):
        self.sock = CountingSocket(sock)
        self.connected = True
        self.closes = []

    def close(self, reason=None, message=None):
        self.closes.append((reason, message))
        self.connected = False
        self.sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def wire():
    """(server end, client socket): a real connected socket pair."""
    server, client = gevent.socket.socketpair()
    client.settimeout(10)
    yield ServerEnd(server), client
    server.close()
    client.close()


def read_exactly(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"the connection ended after {len(data)} of {n} bytes"
        data += chunk
    return data


def read_to_end(sock) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def frames(*texts) -> list[bytes]:
    return [encode({"type": "message", "n": t}) for t in texts]


def test_queued_frames_are_coalesced_into_one_write_in_order(wire):
    ws, client = wire
    conn = Connection(ws, limit=100)
    first = frames(*range(20))
    for frame in first:
        conn.push(frame)
    assert ws.sock.attempts == 0, "the publisher never writes: the flush runs once it yields"
    assert read_exactly(client, len(b"".join(first))) == b"".join(first)
    assert ws.sock.attempts == 1 and conn._writer is None and not conn.closed
    later = frames("x", "y")
    for frame in later:
        conn.push(frame)
    assert decode_frames(read_exactly(client, len(b"".join(later)))) == [
        {"type": "message", "n": "x"}, {"type": "message", "n": "y"}]
    assert ws.sock.attempts == 2


def test_a_frame_larger_than_the_socket_buffer_arrives_whole_and_in_order(wire):
    ws, client = wire
    conn = Connection(ws, limit=100)
    big = encode({"type": "message", "body": "z" * (4 << 20)})
    sent = frames(1) + [big] + frames(2, 3)
    reader = gevent.spawn(read_exactly, client, sum(map(len, sent)))
    for frame in sent:
        conn.push(frame)
    data = reader.get(timeout=30)
    assert data == b"".join(sent)
    assert [f.get("n") for f in decode_frames(data)] == [1, None, 2, 3]
    assert not conn.closed


def test_pushing_beyond_the_limit_drops_the_connection(wire):
    ws, client = wire
    conn = Connection(ws, limit=3)
    for frame in frames(1, 2, 3):
        conn.push(frame)
    assert not conn.closed
    conn.push(frames(4)[0])   # a fourth frame while three are still queued
    assert conn.closed
    conn.push(frames(5)[0])   # ignored from now on
    assert read_to_end(client) == b"", "the TCP connection ended, with no frame sent"
    assert ws.closes == []


def test_the_limit_counts_only_what_is_still_queued(wire):
    ws, client = wire
    conn = Connection(ws, limit=3)
    for round_ in range(4):   # twelve frames in all, but never more than three waiting
        batch = frames(*(f"{round_}.{i}" for i in range(3)))
        for frame in batch:
            conn.push(frame)
        assert read_exactly(client, len(b"".join(batch))) == b"".join(batch)
    assert not conn.closed


def test_close_after_sends_what_is_queued_then_closes(wire):
    ws, client = wire
    conn = Connection(ws, limit=100)
    queued = frames(1, 2) + [encode({"type": "error", "code": "unauthorized", "message": "logged out"})]
    for frame in queued:
        conn.push(frame)
    conn.close_after(CLOSE_UNAUTHORIZED, "token revoked")
    assert read_to_end(client) == b"".join(queued)
    assert ws.closes == [(CLOSE_UNAUTHORIZED, "token revoked")]
    assert conn.closed
    conn.push(frames(3)[0])
    conn.close_after(1000)
    assert ws.closes == [(CLOSE_UNAUTHORIZED, "token revoked")], "closed once"
