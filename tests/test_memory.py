"""Bounded memory (issue 16): the cache budget holds with 2,000 chats x 300 messages,
measured as the server worker's RSS, and history stays right after evictions; a client
flooding a WebSocket without reading does not grow the server's memory.

The 600,000 messages are written in the test's setup with the bulk API through store/
(the Slack importer's writer), the chats with chat/'s own create_chat, in process.
"""
import json
import socket
import time
import uuid

import psutil
import pytest
import requests
import websocket

from chatsvc.chat import accounts, chats
from chatsvc.chat.context import ChatContext
from chatsvc.config import Config
from chatsvc.ids import id_time
from chatsvc.store import Engine
from chatsvc.store import imports as import_store
from chatsvc.store import messages as message_store
from chatsvc.store.indices import bootstrap
from tests.conftest import ServerProcess
from tests.helpers import WS, Api, RecordingPublisher, history, send, team_with_chat, unique

CHATS, PER_CHAT, CACHE_MB = 2000, 300, 48
BODY = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor %d"


def worker_rss(server: ServerProcess) -> int:
    """RSS of the gunicorn worker that serves (the master's only child)."""
    master = psutil.Process(server.proc.pid)
    workers = master.children()
    assert len(workers) == 1, workers
    return workers[0].memory_info().rss


@pytest.fixture(scope="module")
def big_team(engine_url, index_prefix):
    """A team of ann and bob with CHATS group chats of PER_CHAT messages each, written in
    process (the server under test has never loaded it)."""
    config = Config(search_url=engine_url, index_prefix=index_prefix, secret="test-secret-for-this-session")
    engine = Engine(engine_url, index_prefix)
    bootstrap(engine)   # this module may be the session's first user of the prefix
    ctx = ChatContext(config, engine, RecordingPublisher())
    name = unique("big")
    team, ann, _ = accounts.create_team(ctx, name, "ann", "Ann", "password123")
    bob, _ = accounts.signup(ctx, name, team["invite_code"], "bob", "Bob", "password123")
    chat_ids = [chats.create_chat(ctx, ann, [bob["id"]], f"room {i}")[0]["id"] for i in range(CHATS)]
    ops = []
    for chat_id in chat_ids:
        for n in range(PER_CHAT):
            msg_id = ctx.ids.next_id()
            ops.append(message_store.write_op(engine, {
                "id": msg_id, "chat_id": chat_id, "team_id": team["id"],
                "sender_id": (ann, bob)[n % 2]["id"], "body": BODY % n,
                "created_at": id_time(msg_id), "client_msg_id": uuid.uuid4().hex,
                "liked_by": [], "like_count": 0, "hidden_for": [], "deleted": False,
                "has_link": False}))
            if len(ops) >= 5000:
                assert all(status < 300 for status, _ in import_store.write_ops(engine, ops))
                ops = []
    if ops:
        assert all(status < 300 for status, _ in import_store.write_ops(engine, ops))
    message_store.refresh(engine)
    return {"team": team, "chat_ids": chat_ids}


def test_cache_budget_holds_with_2000_chats_of_300_messages(engine_url, index_prefix, big_team):
    srv = ServerProcess(engine_url, index_prefix, cache_mb=CACHE_MB).start()
    try:
        api = Api(srv.url)
        r = api.post("/api/auth/login", json={"team": big_team["team"]["name"], "username": "ann",
                                              "password": "password123"})
        assert r.status_code == 200, r.text
        ann = {"api": api.as_user(r.json()["token"])}
        before = worker_rss(srv)
        peak = before
        for i, chat_id in enumerate(big_team["chat_ids"]):
            page = history(ann, chat_id, limit=50)
            assert len(page["messages"]) == 50 and page["has_more"], chat_id
            if i % 100 == 0:
                peak = max(peak, worker_rss(srv))
        after = worker_rss(srv)
        # Without a budget the tails alone would be 600,000 messages (~0.8-1.2 GB).
        growth_mb = (max(peak, after) - before) / 2**20
        assert growth_mb < CACHE_MB + 64, (before / 2**20, peak / 2**20, after / 2**20)
        sizes = metrics_values(srv.url, "chatsvc_cache_bytes")
        assert sizes[""] <= (CACHE_MB + 16) * 2**20, sizes
        # Evicted tails are rebuilt from the engine on the next use: the first chat again.
        first = history(ann, big_team["chat_ids"][0], limit=200)
        assert [m["body"] for m in first["messages"]] == [BODY % n for n in range(100, 300)]
        print(f"RSS before {before / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, "
              f"after {after / 2**20:.0f} MiB for {CHATS} chats x {PER_CHAT} messages, "
              f"budget {CACHE_MB} MiB")
    finally:
        srv.stop()


def metrics_values(base: str, name: str) -> dict[str, float]:
    """{labels text: value} of one metric in /metrics ('' for an unlabelled one)."""
    values = {}
    for line in requests.get(base + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            key, value = line.rsplit(" ", 1)
            values[key[len(name):]] = float(value)
    return values


def test_a_flooding_websocket_does_not_grow_the_server(engine_url, index_prefix):
    """One frame served at a time (sends_in_flight=1), each a like that waits for its
    engine write: a client pushing 60 KB frames without reading is far faster. The server
    stops reading, then drops it with 1008; its memory does not follow the flood."""
    srv = ServerProcess(engine_url, index_prefix, ws_input_frames=16, ws_input_stall=2,
                        sends_in_flight=1, frame_rate=100000, frame_burst=100000).start()
    try:
        t = team_with_chat(Api(srv.url), "ann", "bob")
        message = send(t["ann"], t["chat_id"], "like me")
        WS(srv.url, t["ann"]["token"]).close()    # warm the paths a socket uses
        before = worker_rss(srv)
        sock = websocket.create_connection(srv.url.replace("http://", "ws://") + "/ws", timeout=10)
        sock.send(json.dumps({"type": "auth", "token": t["ann"]["token"]}))
        assert json.loads(sock.recv())["type"] == "ready"
        frame = json.dumps({"type": "like", "message_id": message["id"], "pad": "x" * 60000})
        sock.sock.settimeout(5)
        sent, started = 0, time.monotonic()
        try:   # up to 600 MB: all of it would have been buffered before issue 16
            while sent < 10000 and time.monotonic() - started < 60:
                sock.send(frame)
                sent += 1
        except (socket.timeout, websocket.WebSocketTimeoutException, OSError,
                websocket.WebSocketConnectionClosedException):
            pass   # the server stopped reading, then dropped us
        growth_mb = (worker_rss(srv) - before) / 2**20
        assert growth_mb < 40, (sent, growth_mb)
        sock.sock.settimeout(10)
        if sent < 10000:   # the usual case: it stopped reading us, then dropped us
            assert closed_with(sock) in (1008, None)   # the documented close (or its TCP end)
        else:              # it kept pace with the whole flood: then it still answers us
            sock.send(json.dumps({"type": "ping", "ref": "after-flood"}))
            assert wait_for_ref(sock, "after-flood")["type"] == "pong"
        # the server is fine: a new connection is served
        assert WS(srv.url, t["ann"]["token"]).request({"type": "ping"})["type"] == "pong"
        print(f"flood: {sent} frames of 60 KB sent before the drop; RSS grew {growth_mb:.1f} MiB")
    finally:
        srv.stop()


def wait_for_ref(sock, ref: str) -> dict:
    """Read frames until the one answering ``ref``."""
    while True:
        frame = json.loads(sock.recv())
        if frame.get("ref") == ref:
            return frame


def closed_with(sock) -> int | None:
    """Read until the server closes: its close code (None: the TCP connection ended)."""
    try:
        while True:
            frame = sock.recv_frame()
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                return int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
    except (websocket.WebSocketConnectionClosedException, OSError):
        return None
