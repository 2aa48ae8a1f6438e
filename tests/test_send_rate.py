"""Senders are rate-limited per user, over REST and WebSocket alike, and a refused send
stores nothing; the connection survives and sending works again once the rate allows."""
import time

import pytest

from tests.conftest import ServerProcess
from tests.helpers import WS, Api, assert_error, history, post_message, send, team_with_chat


@pytest.fixture(scope="module")
def strict_server(engine_url, index_prefix):
    srv = ServerProcess(engine_url, index_prefix, send_rate=1, send_burst=3).start()
    yield srv
    srv.stop()


def test_a_fast_sender_is_refused_and_nothing_is_stored(strict_server):
    p = team_with_chat(Api(strict_server.url), "ann", "bob")
    ann, bob, chat_id = p["ann"], p["bob"], p["chat_id"]
    codes = [post_message(ann, chat_id, f"m{i}", f"r{i}").status_code for i in range(3)]
    assert codes == [201, 201, 201]
    assert_error(post_message(ann, chat_id, "too fast", "r3"), 429, "rate_limited")

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

    bodies = [m["body"] for m in history(bob, chat_id)["messages"]]
    assert bodies == ["m0", "m1", "m2", "now fine"]
    # another sender has her own budget
    send(bob, chat_id, "hi", "b0")
