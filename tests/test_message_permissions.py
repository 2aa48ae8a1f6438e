"""Who may see and touch a chat's messages. A chat the caller may not see answers
`not_found`, exactly like a chat that does not exist (PROTOCOL.md): outsiders of the same
team, users of other teams, and members who left. Deleting for everyone is the sender's
right alone (`forbidden` for the other members, who can see the message)."""
import uuid

import pytest

from tests.helpers import WS, assert_error, create_chat, forbidden, make_team, not_found, post_message, send, ws_refused


@pytest.fixture
def world(api, server):
    team, people = make_team(api, "ann", "bob", "cat")
    other_team, others = make_team(api, "zed", "yul")
    ann, bob = people["ann"], people["bob"]
    chat_id = create_chat(ann, bob, title="private")["id"]
    msg = send(bob, chat_id, "secret", "s1")
    # zed's own chat, so that cross-team ids are real ids of live chats and messages.
    zed_chat = create_chat(others["zed"], others["yul"])
    zed_msg = send(others["zed"], zed_chat["id"], "theirs", "z1")
    sockets = []

    def connect(person):
        ws = WS(server.url, person["token"])
        sockets.append(ws)
        return ws

    yield {"ann": ann, "bob": bob, "cat": people["cat"], "zed": others["zed"], "chat_id": chat_id,
           "msg": msg, "zed_chat": zed_chat, "zed_msg": zed_msg, "connect": connect}
    for ws in sockets:
        ws.close()


def rest_attempts(who, chat_id, message_id):
    """Every chat and message call a member could make, by someone who may not."""
    a = who["api"]
    return [
        a.get(f"/api/chats/{chat_id}"),
        a.get(f"/api/chats/{chat_id}/messages"),
        a.get(f"/api/chats/{chat_id}/messages", params={"before": message_id}),
        post_message(who, chat_id, "let me in"),
        a.post(f"/api/chats/{chat_id}/read", json={"message_id": message_id}),
        a.post(f"/api/chats/{chat_id}/leave"),
        a.put(f"/api/messages/{message_id}/like"),
        a.delete(f"/api/messages/{message_id}/like"),
        a.get(f"/api/messages/{message_id}/context"),
        a.delete(f"/api/messages/{message_id}", params={"for": "me"}),
        a.delete(f"/api/messages/{message_id}", params={"for": "everyone"}),
    ]


def ws_attempts(chat_id, message_id):
    return [
        {"type": "send", "chat_id": chat_id, "body": "let me in", "client_msg_id": uuid.uuid4().hex},
        {"type": "like", "message_id": message_id},
        {"type": "unlike", "message_id": message_id},
        {"type": "read", "chat_id": chat_id, "message_id": message_id},
        {"type": "delete", "message_id": message_id, "for": "me"},
        {"type": "delete", "message_id": message_id, "for": "everyone"},
    ]


def assert_untouched(world):
    """The members' view is exactly as before: nothing the outsider tried got through."""
    for name in ("ann", "bob"):
        page = world[name]["api"].get(f"/api/chats/{world['chat_id']}/messages").json()
        assert page["messages"] == [world["msg"]], page
        chat = world[name]["api"].get(f"/api/chats/{world['chat_id']}").json()
        assert chat["reads"] == {} and len(chat["member_ids"]) == 2


@pytest.mark.parametrize("outsider", ["cat", "zed"])
def test_outsiders_get_not_found_for_everything_in_the_chat(world, outsider):
    who = world[outsider]
    ws = world["connect"](who)
    for r in rest_attempts(who, world["chat_id"], world["msg"]["id"]):
        not_found(r)
    for frame in ws_attempts(world["chat_id"], world["msg"]["id"]):
        ws_refused(ws, frame, "not_found")
    # Not a single event of the chat reached the outsider.
    ws.drain(0.5)
    events = [f for f in ws.frames if f["type"] not in ("ready", "error", "pong")]
    assert not [f for f in events if world["chat_id"] in (f.get("chat_id"), (f.get("message") or {}).get("chat_id"))]
    assert world["chat_id"] not in [c["id"] for c in who["api"].get("/api/chats").json()["chats"]]
    assert_untouched(world)


@pytest.mark.parametrize("outsider", ["cat", "zed"])
def test_a_hidden_chat_answers_exactly_like_a_missing_one(world, outsider):
    """Nothing tells an outsider that the chat or message exists."""
    who = world[outsider]
    missing_chat, missing_msg = str(int(world["chat_id"]) + 7), str(int(world["msg"]["id"]) + 7)
    real = rest_attempts(who, world["chat_id"], world["msg"]["id"])
    fake = rest_attempts(who, missing_chat, missing_msg)
    for r, f in zip(real, fake):
        not_found(r)
        not_found(f)


def test_members_of_one_team_cannot_reach_another_team(world):
    ann, zed = world["ann"], world["zed"]
    # ann cannot use zed's team's chat or message ids ...
    for r in rest_attempts(ann, world["zed_chat"]["id"], world["zed_msg"]["id"]):
        not_found(r)
    ws = world["connect"](ann)
    for frame in ws_attempts(world["zed_chat"]["id"], world["zed_msg"]["id"]):
        ws_refused(ws, frame, "not_found")
    # ... nor start a chat with a user of another team, alone or among her own.
    r = ann["api"].post("/api/chats", json={"member_ids": [zed["user"]["id"]]})
    not_found(r)
    r = ann["api"].post("/api/chats", json={"member_ids": [world["bob"]["user"]["id"], zed["user"]["id"]],
                                            "title": "mixed"})
    not_found(r)
    assert all(c["id"] != world["zed_chat"]["id"] for c in ann["api"].get("/api/chats").json()["chats"])
    page = zed["api"].get(f"/api/chats/{world['zed_chat']['id']}/messages").json()
    assert page["messages"] == [world["zed_msg"]]


def test_only_the_sender_deletes_for_everyone(world):
    ann, bob, chat_id, msg = world["ann"], world["bob"], world["chat_id"], world["msg"]
    forbidden(ann["api"].delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}))
    ws = world["connect"](ann)
    ws_refused(ws, {"type": "delete", "message_id": msg["id"], "for": "everyone"}, "forbidden")
    for name in ("ann", "bob"):
        (m,) = world[name]["api"].get(f"/api/chats/{chat_id}/messages").json()["messages"]
        assert m["body"] == "secret" and m["deleted"] is False
    # She may still hide it for herself, and like it; the sender may delete it for all.
    assert ann["api"].put(f"/api/messages/{msg['id']}/like").status_code == 200
    r = bob["api"].delete(f"/api/messages/{msg['id']}", params={"for": "everyone"})
    assert r.status_code == 204, r.text
    (m,) = ann["api"].get(f"/api/chats/{chat_id}/messages").json()["messages"]
    assert m["deleted"] is True and m["body"] == ""


def test_a_leaver_gets_not_found_for_everything_in_that_chat(world):
    ann, bob, chat_id, msg = world["ann"], world["bob"], world["chat_id"], world["msg"]
    mine = send(ann, chat_id, "mine", "a1")
    ws = world["connect"](ann)
    r = ann["api"].post(f"/api/chats/{chat_id}/leave")
    assert r.status_code == 204, r.text
    ws.wait("left", chat_id=chat_id)
    for message_id in (msg["id"], mine["id"]):  # others' messages and her own
        for r in rest_attempts(ann, chat_id, message_id):
            not_found(r)
        for frame in ws_attempts(chat_id, message_id):
            ws_refused(ws, frame, "not_found")
    # Retrying a send she made while a member does not get her back in either.
    not_found(post_message(ann, chat_id, "mine", "a1"))
    assert chat_id not in [c["id"] for c in ann["api"].get("/api/chats").json()["chats"]]
    # bob still has the chat, with everything in it, and ann is no longer a member.
    chat = bob["api"].get(f"/api/chats/{chat_id}").json()
    assert chat["member_ids"] == [bob["user"]["id"]]
    page = bob["api"].get(f"/api/chats/{chat_id}/messages").json()
    assert [m["id"] for m in page["messages"]] == [msg["id"], mine["id"]]


def test_requests_without_a_valid_token_are_unauthorized(world, api):
    chat_id, msg = world["chat_id"], world["msg"]
    for token in (None, "not-a-token"):
        anon = api.as_user(token) if token else api
        for r in (anon.get(f"/api/chats/{chat_id}/messages"),
                  anon.post(f"/api/chats/{chat_id}/messages", json={"body": "x", "client_msg_id": "x"}),
                  anon.put(f"/api/messages/{msg['id']}/like"),
                  anon.get("/api/chats")):
            assert_error(r, 401, "unauthorized")
