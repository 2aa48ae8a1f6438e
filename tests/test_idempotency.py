"""One client_msg_id, one message: over REST, over WebSocket, across a reconnect and across
a restart of the server process. A client that is unsure whether a send went through
retries it with the same client_msg_id; users must never see the message twice."""
import uuid

import pytest

from tests.conftest import ServerProcess, drop_prefix
from tests.helpers import WS, Api, send, team_with_chat, whole_history


def message_events(ws: WS, chat_id: str, quiet: float = 0.8) -> list[dict]:
    ws.drain(quiet)
    return [f["message"] for f in ws.frames if f["type"] == "message" and f["message"]["chat_id"] == chat_id]


def pair(api):
    p = team_with_chat(api, "ann", "bob")
    ann, bob = p["ann"], p["bob"]
    ann["team_name"] = bob["team_name"] = p["team"]["name"]
    return ann, bob, p["chat_id"]


def test_rest_retry_answers_200_with_the_same_message(api):
    ann, bob, chat_id = pair(api)
    cmid = "retry-" + uuid.uuid4().hex
    first = send(ann, chat_id, "once", cmid)
    again = send(ann, chat_id, "once", cmid, expect=200)
    assert again == first
    assert first["client_msg_id"] == cmid
    # A retry whose body differs (a client bug, or an edit) still answers the original.
    assert send(ann, chat_id, "twice?", cmid, expect=200) == first
    assert whole_history(ann, chat_id) == [first]
    assert whole_history(bob, chat_id) == [first]
    # The key belongs to the sender: bob may use the same client_msg_id for his own message.
    bobs = send(bob, chat_id, "mine", cmid)
    assert bobs["id"] != first["id"] and bobs["sender_id"] == bob["user"]["id"]
    assert [m["id"] for m in whole_history(ann, chat_id)] == [first["id"], bobs["id"]]


def test_ws_retry_acks_the_same_message_and_publishes_it_once(api, server):
    ann, bob, chat_id = pair(api)
    ann_ws, bob_ws = WS(server.url, ann["token"]), WS(server.url, bob["token"])
    try:
        frame = {"type": "send", "chat_id": chat_id, "body": "hello", "client_msg_id": "ws-1"}
        first = ann_ws.request(frame)
        second = ann_ws.request(frame)
        assert first["type"] == second["type"] == "ack", (first, second)
        assert first["client_msg_id"] == second["client_msg_id"] == "ws-1"
        assert first["message"] == second["message"]

        # The same retry racing itself: both frames sent before either answer.
        ann_ws.send({**frame, "client_msg_id": "ws-2", "ref": "a"})
        ann_ws.send({**frame, "client_msg_id": "ws-2", "ref": "b"})
        a, b = ann_ws.wait("ack", ref="a"), ann_ws.wait("ack", ref="b")
        assert a["message"]["id"] == b["message"]["id"]
        assert a["message"]["id"] != first["message"]["id"]

        expected = [first["message"]["id"], a["message"]["id"]]
        for ws in (ann_ws, bob_ws):
            assert [m["id"] for m in message_events(ws, chat_id)] == expected
        assert [m["id"] for m in whole_history(bob, chat_id)] == expected
        # REST sees the WebSocket's key too.
        assert send(ann, chat_id, "hello", "ws-1", expect=200) == first["message"]
    finally:
        ann_ws.close()
        bob_ws.close()


def test_retry_after_a_reconnect_gives_the_same_message(api, server):
    ann, bob, chat_id = pair(api)
    bob_ws = WS(server.url, bob["token"])
    ann_ws = WS(server.url, ann["token"])
    frame = {"type": "send", "chat_id": chat_id, "body": "across a reconnect", "client_msg_id": "rc-1"}
    try:
        first = ann_ws.request(frame)
        assert first["type"] == "ack", first
        # The connection drops before the client trusts the ack; it reconnects (new
        # session, fresh login even) and sends again.
        ann_ws.close()
        login = api.post("/api/auth/login", json={"team": ann["team_name"],
                                                  "username": "ann", "password": "password123"})
        assert login.status_code == 200, login.text
        ann_ws = WS(server.url, login.json()["token"])
        second = ann_ws.request(frame)
        assert second["type"] == "ack", second
        assert second["message"] == first["message"]
        assert [m["id"] for m in message_events(bob_ws, chat_id)] == [first["message"]["id"]]
        assert [m["id"] for m in whole_history(bob, chat_id)] == [first["message"]["id"]]
    finally:
        ann_ws.close()
        bob_ws.close()


@pytest.fixture
def own_prefix(engine_url):
    prefix = f"test-idem-{uuid.uuid4().hex[:8]}"
    yield prefix
    drop_prefix(engine_url, prefix)


def test_retry_across_a_server_restart_gives_one_message(engine_url, own_prefix):
    srv = ServerProcess(engine_url, own_prefix).start()
    try:
        api = Api(srv.url)
        ann, bob, chat_id = pair(api)
        first = send(ann, chat_id, "before the restart", "rs-1")
        ws = WS(srv.url, ann["token"])
        ws_first = ws.request({"type": "send", "chat_id": chat_id, "body": "ws before",
                               "client_msg_id": "rs-2"})
        assert ws_first["type"] == "ack", ws_first
        ws.close()

        srv.restart()  # immediately: the process forgets everything it held in memory

        assert send(ann, chat_id, "before the restart", "rs-1", expect=200) == first
        ws = WS(srv.url, ann["token"])
        try:
            ws_again = ws.request({"type": "send", "chat_id": chat_id, "body": "ws before",
                                   "client_msg_id": "rs-2"})
            assert ws_again["type"] == "ack", ws_again
            assert ws_again["message"] == ws_first["message"]
            # Cross-transport after the restart too.
            cross = ws.request({"type": "send", "chat_id": chat_id, "body": "before the restart",
                                "client_msg_id": "rs-1"})
            assert cross["message"] == first
            fresh = ws.request({"type": "send", "chat_id": chat_id, "body": "after",
                                "client_msg_id": "rs-3"})
            assert fresh["type"] == "ack" and int(fresh["message"]["id"]) > int(ws_first["message"]["id"])
        finally:
            ws.close()
        msgs = whole_history(bob, chat_id)
        assert [m["id"] for m in msgs] == [first["id"], ws_first["message"]["id"],
                                           fresh["message"]["id"]]
        assert [m["client_msg_id"] for m in msgs] == ["rs-1", "rs-2", "rs-3"]
    finally:
        srv.stop()
