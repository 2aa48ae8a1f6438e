"""The user stories that everything else builds on, end to end through a real server."""
from tests.helpers import WS, history


def test_send_and_receive_live(team_with_chat, server):
    ann, bob, chat_id = team_with_chat["ann"], team_with_chat["bob"], team_with_chat["chat_id"]
    bob_ws = WS(server.url, bob["token"])
    ann_ws = WS(server.url, ann["token"])
    ack = ann_ws.request({"type": "send", "chat_id": chat_id, "body": "hello bob", "client_msg_id": "m1"})
    assert ack["type"] == "ack", ack
    event = bob_ws.wait("message")
    assert event["message"]["body"] == "hello bob"
    assert event["message"]["id"] == ack["message"]["id"]
    page = history(bob, chat_id)
    assert [m["body"] for m in page["messages"]] == ["hello bob"]
    ann_ws.close()
    bob_ws.close()
