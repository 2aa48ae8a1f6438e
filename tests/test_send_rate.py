"""Senders are rate-limited per user, over REST and WebSocket alike, and a refused send
stores nothing; the connection survives and sending works again once the rate allows."""
import time

import pytest

from tests.conftest import ServerProcess
from tests.helpers import WS, Api, make_team


@pytest.fixture(scope="module")
def strict_server(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, send_rate=1, send_burst=3).start()
    yield srv
    srv.stop()


def test_a_fast_sender_is_refused_and_nothing_is_stored(strict_server):
    _, people = make_team(Api(strict_server.url), "ann", "bob")
    ann, bob = people["ann"], people["bob"]
    chat_id = ann["api"].post("/api/chats", json={"member_ids": [bob["user"]["id"]]}).json()["id"]
    codes = [ann["api"].post(f"/api/chats/{chat_id}/messages",
                             json={"body": f"m{i}", "client_msg_id": f"r{i}"}).status_code for i in range(3)]
    assert codes == [201, 201, 201]
    refused = ann["api"].post(f"/api/chats/{chat_id}/messages", json={"body": "too fast", "client_msg_id": "r3"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"

    ws = WS(strict_server.url, ann["token"])  # a second transport shares the same budget
    try:
        answer = ws.request({"type": "send", "chat_id": chat_id, "body": "also too fast", "client_msg_id": "w0"})
        assert answer["type"] == "error" and answer["code"] == "rate_limited"
        assert ws.request({"type": "ping"})["type"] == "pong"  # the connection survives
        time.sleep(1.2)
        ack = ws.request({"type": "send", "chat_id": chat_id, "body": "now fine", "client_msg_id": "w1"})
        assert ack["type"] == "ack", ack
    finally:
        ws.close()

    bodies = [m["body"] for m in bob["api"].get(f"/api/chats/{chat_id}/messages").json()["messages"]]
    assert bodies == ["m0", "m1", "m2", "now fine"]
    # another sender has her own budget
    assert bob["api"].post(f"/api/chats/{chat_id}/messages",
                           json={"body": "hi", "client_msg_id": "b0"}).status_code == 201
