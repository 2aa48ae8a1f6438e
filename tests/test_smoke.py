"""The user stories that everything else builds on, end to end through a real server."""
from tests.helpers import WS, make_team


def test_send_and_receive_live(api, server):
    team, people = make_team(api, "ann", "bob")
    ann, bob = people["ann"], people["bob"]
    chat = ann["api"].post("/api/chats", json={"member_ids": [bob["user"]["id"]]})
    assert chat.status_code == 201, chat.text
    chat_id = chat.json()["id"]
    bob_ws = WS(server.url, bob["token"])
    ann_ws = WS(server.url, ann["token"])
    ack = ann_ws.request({"type": "send", "chat_id": chat_id, "body": "hello bob", "client_msg_id": "m1"})
    assert ack["type"] == "ack", ack
    event = bob_ws.wait("message")
    assert event["message"]["body"] == "hello bob"
    assert event["message"]["id"] == ack["message"]["id"]
    page = bob["api"].get(f"/api/chats/{chat_id}/messages").json()
    assert [m["body"] for m in page["messages"]] == ["hello bob"]
    ann_ws.close()
    bob_ws.close()
