"""The search engine goes away in the middle of traffic and comes back.

This module runs its own engine (port 9250, its own data directory) and its own server
pointed at it, so stopping that engine disturbs no other test. While the engine is down,
sends answer `unavailable` (never an ack for a message that is not stored) and the
connections stay open; once it is back, sends work again without restarting the server,
and every acknowledged message is in history, exactly once.
"""
import fcntl
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tests.conftest import ROOT, ServerProcess, drop_prefix
from tests.helpers import (WS, Api, assert_error, engine_answers, post_message, send, team_with_chat,
                           wait_until, whole_history)

PORT = 9250
ENGINE = f"http://127.0.0.1:{PORT}"
SCRIPT = os.path.join(ROOT, "scripts", "search-engine")


def engine(command: str):
    result = subprocess.run([sys.executable, SCRIPT, command, "--port", str(PORT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"search-engine {command} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def engine_lock():
    """Port 9250 is one per machine, but test sessions may run side by side in this tree:
    hold a lock while this module starts, stops and restarts that engine."""
    path = os.path.join(ROOT, "var", f"engine-{PORT}.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        def locked():
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        wait_until(locked, 1200, f"another test session to release {path}", poll=1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def outage_server(engine_lock):
    engine("start")
    prefix = f"test-outage-{uuid.uuid4().hex[:8]}"
    srv = ServerProcess(ENGINE, prefix, engine_timeout=5)
    try:
        srv.start(timeout=180)
        yield srv
    finally:
        srv.stop()
        if not engine_answers(ENGINE):
            engine("start")
        drop_prefix(ENGINE, prefix)
        engine("stop")


class Sender(threading.Thread):
    """Sends over one WebSocket, one message at a time, and records every answer."""

    def __init__(self, ws: WS, chat_id: str):
        super().__init__(daemon=True)
        self.ws, self.chat_id = ws, chat_id
        self.outcomes: list[tuple[str, dict]] = []  # (client_msg_id, answer frame)
        self.failure = None
        self.halt = threading.Event()

    def run(self):
        i = 0
        try:
            while not self.halt.is_set():
                cmid = f"out-{i}"
                answer = self.ws.request({"type": "send", "chat_id": self.chat_id,
                                          "body": f"message {i}", "client_msg_id": cmid}, timeout=60)
                self.outcomes.append((cmid, answer))
                i += 1
                time.sleep(0.05)
        except Exception as exc:
            self.failure = exc

    def acks(self, since: int = 0):
        return [a for _, a in self.outcomes[since:] if a["type"] == "ack"]

    def errors(self, since: int = 0):
        return [a for _, a in self.outcomes[since:] if a["type"] == "error"]


class KeepAlive(threading.Thread):
    """Pings on a WebSocket that otherwise only listens, as a client's heartbeat does, so
    the server's idle timeout does not close it during the long engine stop and start."""

    def __init__(self, ws: WS, every: float = 10):
        super().__init__(daemon=True)
        self.ws, self.every = ws, every
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(self.every):
            try:
                self.ws.send({"type": "ping"})
            except Exception:
                return


def test_engine_stopped_and_started_in_the_middle_of_traffic(outage_server):
    srv = outage_server
    p = team_with_chat(Api(srv.url), "ann", "bob")
    ann, bob, chat_id = p["ann"], p["bob"], p["chat_id"]
    ann_ws, bob_ws = WS(srv.url, ann["token"]), WS(srv.url, bob["token"])
    sender = Sender(ann_ws, chat_id)
    keepalive = KeepAlive(bob_ws)
    keepalive.start()
    sender.start()
    try:
        wait_until(lambda: len(sender.acks()) >= 20 or sender.failure, 60, "acks before the outage")
        assert sender.failure is None, sender.failure

        engine("stop")
        stopped_at = len(sender.outcomes)
        wait_until(lambda: len(sender.errors(stopped_at)) >= 5 or sender.failure, 90,
                 "unavailable answers while the engine is down")
        assert sender.failure is None, sender.failure
        # Down: REST says so too, readiness fails, and other connections still answer.
        assert_error(post_message(bob, chat_id, "rest", "rest-down"), 503, "unavailable")
        assert requests.get(srv.url + "/readyz", timeout=30).status_code == 503
        assert requests.get(srv.url + "/healthz", timeout=30).status_code == 200
        assert bob_ws.request({"type": "ping"})["type"] == "pong"

        engine("start")
        restarted_at = len(sender.outcomes)
        wait_until(lambda: len(sender.acks(restarted_at)) >= 20 or sender.failure, 240,
                 "acks after the engine came back")
        assert sender.failure is None, sender.failure
    finally:
        sender.halt.set()
        sender.join(90)
        keepalive.halt.set()
        keepalive.join(30)
    assert not sender.is_alive()
    assert sender.failure is None, sender.failure
    assert srv.proc.poll() is None, "the server process kept running throughout"

    outcomes = sender.outcomes
    for cmid, answer in outcomes:
        assert answer["type"] in ("ack", "error"), answer
        assert answer["client_msg_id" if answer["type"] == "ack" else "code"] == \
            (cmid if answer["type"] == "ack" else "unavailable"), answer
    failed = [cmid for cmid, a in outcomes if a["type"] == "error"]
    acked = {a["message"]["id"]: a["message"] for _, a in outcomes if a["type"] == "ack"}
    assert len(acked) == len(outcomes) - len(failed)
    acked_first_try = list(acked)
    assert len(sender.errors(stopped_at)) >= 5 and len(sender.acks(restarted_at)) >= 20

    # Every acknowledged message is stored: in history, exactly once, in order.
    history = whole_history(bob, chat_id)
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids)) and [int(i) for i in ids] == sorted(int(i) for i in ids)
    missing = set(acked) - set(ids)
    assert not missing, f"{len(missing)} acknowledged messages are not in history"
    for m in history:
        if m["id"] in acked:
            assert m == acked[m["id"]]

    # The sends that were refused can be retried with the same client_msg_id: each ends
    # as one message, and nothing is ever there twice.
    for cmid in failed:
        i = cmid.split("-")[1]
        r = post_message(ann, chat_id, f"message {i}", cmid)
        assert r.status_code in (200, 201), r.text
        acked[r.json()["id"]] = r.json()
    message = send(bob, chat_id, "rest", "rest-down")
    acked[message["id"]] = message
    history = whole_history(ann, chat_id)
    assert [m["id"] for m in history] == sorted(acked, key=int)
    assert sorted(m["client_msg_id"] for m in history) == sorted([c for c, _ in outcomes] + ["rest-down"])
    assert history == [acked[i] for i in sorted(acked, key=int)]

    # bob's connection, open all along, was told of every stored message exactly once,
    # including one whose send reached the engine while its sender was told "unavailable"
    # (it is pushed when the retry finds it stored). Those acked at once came in id order.
    bob_ws.drain(1.0)
    told = [f["message"]["id"] for f in bob_ws.frames if f["type"] == "message"]
    untold = [(m["id"], m["client_msg_id"]) for m in history if m["id"] not in told]
    assert not untold, f"stored but never pushed to bob: {untold}"
    assert sorted(told, key=int) == [m["id"] for m in history], "each message pushed once"
    first_try = set(acked_first_try)
    in_order = [int(i) for i in told if i in first_try]
    assert in_order == sorted(in_order)
    ann_ws.close()
    bob_ws.close()
