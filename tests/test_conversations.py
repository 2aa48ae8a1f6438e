"""Conversations as teams have them: edits, threads and emoji reactions (PROTOCOL.md
"Edits, threads, reactions, mentions"), end to end: a real server and engine, three people
of one team, each with two devices (WebSocket connections), and outsiders who must be
refused: another team's user, a team member outside the chat, and a member who left.
"""
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import WS, assert_error, make_team, ok, wait_until

THUMBS = "\U0001F44D"
PARTY = "\U0001F389"
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"            # a ZWJ sequence
THUMBS_DARK = "\U0001F44D\U0001F3FD"                              # with a skin tone
NOT_ONE_EMOJI = ["a", THUMBS + THUMBS, " " + THUMBS, "x" + PARTY, ":tada:", "\u200d", "1"]


# ---------------------------------------------------------------------------- set-up

refused = assert_error


def frames_of(ws: WS, type_: str, timeout: float = 10, **match) -> dict:
    return ws.wait(type_, timeout, **match)


def message_event(ws: WS, message_id: str, timeout: float = 10) -> dict:
    """The Message of the ``message`` event for this message id."""
    def match(f):
        return f["type"] == "message" and f["message"]["id"] == message_id
    return ws.read_until(lambda: ws.first_unseen(match), timeout, f"the message event of {message_id}")["message"]


def no_frame(devices, type_: str, quiet: float = 0.6, **match):
    time.sleep(quiet)
    for ws in devices:
        ws.drain(0.05)
        extra = [f for f in ws._unseen() if f["type"] == type_
                 and all(f.get(k) == v for k, v in match.items())]
        assert not extra, f"unexpected {type_} frames: {extra}"


class Room:
    """ann, bob, cat in a group chat, two devices each; dan is in the team but not in the
    chat; eve left the chat; zed is in another team."""

    def __init__(self, api, server):
        self.server = server
        _, self.p = make_team(api, "ann", "bob", "cat", "dan", "eve")
        _, other = make_team(api, "zed")
        self.p["zed"] = other["zed"]
        self.chat_id = ok(self.api("ann").post("/api/chats", json={
            "member_ids": [self.uid(n) for n in ("bob", "cat", "eve")], "title": "plans"}), 201)["id"]
        ok(self.api("eve").post(f"/api/chats/{self.chat_id}/leave"), 204)
        self.devices = {n: [WS(server.url, self.p[n]["token"]), WS(server.url, self.p[n]["token"])]
                        for n in ("ann", "bob", "cat")}

    def api(self, name):
        return self.p[name]["api"]

    def uid(self, name):
        return self.p[name]["user"]["id"]

    def all_devices(self):
        return [ws for pair in self.devices.values() for ws in pair]

    def send(self, name, body, **extra):
        return ok(self.api(name).post(f"/api/chats/{self.chat_id}/messages", json={
            "body": body, "client_msg_id": uuid.uuid4().hex, **extra}), 201)

    def history(self, name, **params):
        return ok(self.api(name).get(f"/api/chats/{self.chat_id}/messages",
                                     params={"limit": 200, **params}))["messages"]

    def outsiders(self):
        return [self.api(n) for n in ("dan", "eve", "zed")]

    def close(self):
        for ws in self.all_devices():
            ws.close()


@pytest.fixture
def room(api, server):
    r = Room(api, server)
    yield r
    r.close()


def search_until(api, q, pred, timeout=10):
    last = {}

    def matches():
        last["result"] = ok(api.get("/api/search", params={"q": q}))
        return last["result"] if pred(last["result"]) else None

    return wait_until(matches, timeout, lambda: f"search {q!r}: {last.get('result')}")


def quoted(emoji: str) -> str:
    return urllib.parse.quote(emoji, safe="")


# ---------------------------------------------------------------------------- edits

def test_an_edit_reaches_every_device_and_replaces_what_users_see_and_find(room):
    msg = room.send("ann", "the standup is at nine oclock")
    edited = ok(room.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": "  standup moved to ten  "}))
    assert edited["body"] == "standup moved to ten" and edited["edited_at"]
    assert edited["id"] == msg["id"] and edited["created_at"] == msg["created_at"]
    for ws in room.all_devices():   # the sender's other device included
        event = frames_of(ws, "edited", chat_id=room.chat_id)
        assert event["message"]["id"] == msg["id"] and event["message"]["body"] == "standup moved to ten"
    for name in ("ann", "bob"):
        (seen,) = [m for m in room.history(name) if m["id"] == msg["id"]]
        assert seen["body"] == "standup moved to ten" and seen["edited_at"] == edited["edited_at"]
    search_until(room.api("bob"), "moved ten", lambda r: [h["message"]["id"] for h in r["hits"]] == [msg["id"]])
    search_until(room.api("bob"), "oclock", lambda r: r["total"] == 0)


def test_an_edit_over_websocket_answers_ok_and_the_same_text_changes_nothing(room):
    msg = room.send("bob", "draft one")
    answer = room.devices["bob"][0].request({"type": "edit", "message_id": msg["id"], "body": "draft two"})
    assert answer["type"] == "ok", answer
    for ws in room.devices["ann"]:
        frames_of(ws, "edited", chat_id=room.chat_id)
    again = ok(room.api("bob").patch(f"/api/messages/{msg['id']}", json={"body": "draft two"}))
    assert again["body"] == "draft two"
    no_frame(room.devices["ann"], "edited")


def test_only_the_sender_edits_and_outsiders_are_not_told_the_message_exists(room):
    msg = room.send("ann", "mine")
    refused(room.api("bob").patch(f"/api/messages/{msg['id']}", json={"body": "yours"}), 403, "forbidden")
    for outsider in room.outsiders():
        refused(outsider.patch(f"/api/messages/{msg['id']}", json={"body": "x"}), 404, "not_found")
    error = room.devices["bob"][0].request({"type": "edit", "message_id": msg["id"], "body": "yours"})
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert [m["body"] for m in room.history("cat") if m["id"] == msg["id"]] == ["mine"]


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 10001},
                                     {"body": 5}, {"body": None}])
def test_bad_edits_are_bad_requests_and_change_nothing(room, payload):
    msg = room.send("ann", "steady")
    error = refused(room.api("ann").patch(f"/api/messages/{msg['id']}", json=payload), 400, "bad_request")
    assert "body" in error["fields"]
    refused(room.api("ann").patch("/api/messages/not-an-id", json={"body": "x"}), 404, "not_found")
    assert [m["body"] for m in room.history("ann") if m["id"] == msg["id"]] == ["steady"]


def test_a_bad_edit_frame_is_an_error_and_the_connection_stays(room):
    ws = room.devices["ann"][0]
    for frame in ({"type": "edit", "body": "x"}, {"type": "edit", "message_id": "1"},
                  {"type": "edit", "message_id": "abc", "body": "x"}):
        answer = ws.request(frame)
        assert answer["type"] == "error" and answer["code"] == "bad_request", answer
    assert ws.request({"type": "ping"})["type"] == "pong"


def test_a_message_deleted_for_everyone_cannot_be_edited(room):
    msg = room.send("ann", "gone soon")
    ok(room.api("ann").delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}), 204)
    refused(room.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": "back"}), 404, "not_found")


def test_edits_racing_a_delete_end_deleted_with_no_text_anywhere(room):
    msg = room.send("ann", "racing original text")
    outcomes = []

    def edit(i):
        r = room.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": f"racing edit {i}"})
        outcomes.append(r.status_code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    ok(room.api("ann").delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}), 204)
    for t in threads:
        t.join()
    assert set(outcomes) <= {200, 404}, outcomes
    (seen,) = [m for m in room.history("bob") if m["id"] == msg["id"]]
    assert seen["deleted"] and seen["body"] == "" and seen["edited_at"] is None
    refused(room.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": "late"}), 404, "not_found")
    search_until(room.api("bob"), "racing", lambda r: r["total"] == 0)


# ---------------------------------------------------------------------------- threads

def test_a_reply_lives_in_its_thread_and_the_root_carries_the_summary(room):
    root = room.send("ann", "release checklist?")
    reply = room.send("bob", "tests are green", thread_id=root["id"])
    assert reply["thread_id"] == root["id"]
    for ws in room.all_devices():
        assert message_event(ws, reply["id"])["thread_id"] == root["id"]
        event = frames_of(ws, "thread", chat_id=room.chat_id)
        assert event["root"]["id"] == root["id"] and event["root"]["reply_count"] == 1
        assert event["root"]["reply_user_ids"] == [room.uid("bob")]
    flow = room.history("cat")
    assert [m["id"] for m in flow] == [root["id"]]     # a thread-only reply is not in the chat's flow
    assert flow[0]["reply_count"] == 1 and flow[0]["last_reply_at"] == reply["created_at"]
    thread = ok(room.api("cat").get(f"/api/messages/{root['id']}/thread"))
    assert thread["root"]["id"] == root["id"] and [m["id"] for m in thread["replies"]] == [reply["id"]]
    assert thread["has_more"] is False


def test_also_in_chat_replies_show_in_the_flow_and_replies_to_replies_join_the_root(room):
    root = room.send("ann", "who takes the pager?")
    first = room.send("bob", "me", thread_id=root["id"])
    second = room.send("cat", "I can swap on friday", thread_id=first["id"], also_in_chat=True)
    third = room.send("ann", "thanks both", thread_id=root["id"])
    assert second["thread_id"] == root["id"] and second["also_in_chat"] is True
    assert [m["id"] for m in room.history("bob")] == [root["id"], second["id"]]
    thread = ok(room.api("bob").get(f"/api/messages/{root['id']}/thread"))
    assert [m["id"] for m in thread["replies"]] == [first["id"], second["id"], third["id"]]
    assert thread["root"]["reply_count"] == 3
    assert thread["root"]["reply_user_ids"] == [room.uid("bob"), room.uid("cat"), room.uid("ann")]
    # the thread of a reply is its root's thread
    via_reply = ok(room.api("bob").get(f"/api/messages/{first['id']}/thread"))
    assert via_reply["root"]["id"] == root["id"]
    page = ok(room.api("bob").get(f"/api/messages/{root['id']}/thread", params={"limit": 2}))
    assert [m["id"] for m in page["replies"]] == [first["id"], second["id"]] and page["has_more"]
    rest = ok(room.api("bob").get(f"/api/messages/{root['id']}/thread",
                                  params={"after": second["id"], "limit": 2}))
    assert [m["id"] for m in rest["replies"]] == [third["id"]] and not rest["has_more"]


def test_a_thread_only_reply_does_not_make_the_chat_unread(room):
    root = room.send("ann", "root")
    ok(room.api("bob").post(f"/api/chats/{room.chat_id}/read", json={"message_id": root["id"]}), 204)
    room.send("ann", "a reply", thread_id=root["id"])
    chat = ok(room.api("bob").get(f"/api/chats/{room.chat_id}"))
    assert chat["unread_count"] == 0 and chat["last_message"]["id"] == root["id"]
    room.send("ann", "a reply for all", thread_id=root["id"], also_in_chat=True)
    assert ok(room.api("bob").get(f"/api/chats/{room.chat_id}"))["unread_count"] == 1


def test_a_search_hit_on_a_reply_names_its_thread(room):
    root = room.send("ann", "the incident")
    reply = room.send("bob", "rollback finished quietly", thread_id=root["id"])
    result = search_until(room.api("cat"), "rollback", lambda r: r["total"] == 1)
    assert result["hits"][0]["message"]["id"] == reply["id"]
    assert result["hits"][0]["message"]["thread_id"] == root["id"]


def test_bad_thread_ids_are_refused_and_nothing_is_stored(room, api):
    other_chat = ok(room.api("ann").post("/api/chats", json={"member_ids": [room.uid("bob")]}), 201)["id"]
    elsewhere = ok(room.api("ann").post(f"/api/chats/{other_chat}/messages",
                                        json={"body": "elsewhere", "client_msg_id": "e1"}), 201)
    dan_chat = ok(room.api("dan").post("/api/chats", json={"member_ids": [room.uid("cat")]}), 201)["id"]
    hidden = ok(room.api("dan").post(f"/api/chats/{dan_chat}/messages",
                                     json={"body": "not for ann", "client_msg_id": "d1"}), 201)
    gone = room.send("ann", "to be deleted")
    ok(room.api("ann").delete(f"/api/messages/{gone['id']}", params={"for": "everyone"}), 204)
    url = f"/api/chats/{room.chat_id}/messages"
    cases = [(elsewhere["id"], 400, "bad_request"),   # a message of another of her chats
             (hidden["id"], 404, "not_found"),        # a chat she is not in: not revealed
             (gone["id"], 404, "not_found"),          # deleted for everyone
             ("999999999999", 404, "not_found"),
             ("abc", 400, "bad_request"), (-1, 400, "bad_request")]
    before = room.history("ann")
    for thread_id, status, code in cases:
        refused(room.api("ann").post(url, json={"body": "reply", "client_msg_id": uuid.uuid4().hex,
                                                 "thread_id": thread_id}), status, code)
    refused(room.api("ann").post(url, json={"body": "x", "client_msg_id": "c9", "also_in_chat": "sure"}),
            400, "bad_request")
    assert room.history("ann") == before
    ws = room.devices["ann"][0]
    answer = ws.request({"type": "send", "chat_id": room.chat_id, "body": "x", "client_msg_id": "w1",
                         "thread_id": elsewhere["id"]})
    assert answer["type"] == "error" and answer["code"] == "bad_request"
    assert ws.request({"type": "ping"})["type"] == "pong"


def test_outsiders_cannot_read_or_join_a_thread(room):
    root = room.send("ann", "private thread")
    for outsider in room.outsiders():
        refused(outsider.get(f"/api/messages/{root['id']}/thread"), 404, "not_found")
    refused(room.api("dan").post(f"/api/chats/{room.chat_id}/messages", json={
        "body": "let me in", "client_msg_id": "x1", "thread_id": root["id"]}), 404, "not_found")
    assert ok(room.api("ann").get(f"/api/messages/{root['id']}/thread"))["replies"] == []


def test_a_retried_reply_counts_once(room):
    root = room.send("ann", "count me once")
    body = {"body": "once", "client_msg_id": "same-reply", "thread_id": root["id"]}
    first = ok(room.api("bob").post(f"/api/chats/{room.chat_id}/messages", json=body), 201)
    again = ok(room.api("bob").post(f"/api/chats/{room.chat_id}/messages", json=body), 200)
    assert again["id"] == first["id"]
    thread = ok(room.api("ann").get(f"/api/messages/{root['id']}/thread"))
    assert thread["root"]["reply_count"] == 1 and len(thread["replies"]) == 1


# ---------------------------------------------------------------------------- reactions

def test_any_emoji_reaction_reaches_every_device_and_is_idempotent(room):
    msg = room.send("ann", "shipped!")
    url = f"/api/messages/{msg['id']}/reactions/"
    after = ok(room.api("bob").put(url + quoted(PARTY)))
    assert after["reactions"] == [{"emoji": PARTY, "user_ids": [room.uid("bob")]}]
    for ws in room.all_devices():
        event = frames_of(ws, "reaction", message_id=msg["id"])
        assert event["emoji"] == PARTY and event["added"] is True and event["user_id"] == room.uid("bob")
    ok(room.api("bob").put(url + quoted(PARTY)))           # again: no change, no event
    no_frame(room.all_devices(), "reaction")
    for emoji in (FAMILY, THUMBS_DARK):
        ok(room.api("cat").put(url + quoted(emoji)))
    seen = ok(room.api("ann").get(f"/api/messages/{msg['id']}/context", params={"before": 0, "after": 0}))
    assert [r["emoji"] for r in seen["messages"][0]["reactions"]] == [PARTY, FAMILY, THUMBS_DARK]
    assert seen["messages"][0]["liked_by"] == []          # a dark thumbs-up is not the like
    gone = ok(room.api("bob").delete(url + quoted(PARTY)))
    assert [r["emoji"] for r in gone["reactions"]] == [FAMILY, THUMBS_DARK]
    ok(room.api("bob").delete(url + quoted(PARTY)))         # idempotent


def test_the_like_is_the_thumbs_up_reaction_both_ways(room):
    msg = room.send("ann", "like me")
    via_reaction = ok(room.api("bob").put(f"/api/messages/{msg['id']}/reactions/{quoted(THUMBS)}"))
    assert via_reaction["liked_by"] == [room.uid("bob")]
    assert via_reaction["reactions"] == [{"emoji": THUMBS, "user_ids": [room.uid("bob")]}]
    ws = room.devices["ann"][0]
    assert frames_of(ws, "liked", message_id=msg["id"])["liked_by"] == [room.uid("bob")]
    assert frames_of(ws, "reaction", message_id=msg["id"])["emoji"] == THUMBS
    via_like = ok(room.api("cat").put(f"/api/messages/{msg['id']}/like"))
    assert via_like["reactions"] == [{"emoji": THUMBS, "user_ids": [room.uid("bob"), room.uid("cat")]}]
    assert frames_of(ws, "reaction", message_id=msg["id"])["user_id"] == room.uid("cat")
    ok(room.api("bob").delete(f"/api/messages/{msg['id']}/reactions/{quoted(THUMBS)}"))
    assert frames_of(ws, "unliked", message_id=msg["id"])["liked_by"] == [room.uid("cat")]


@pytest.mark.parametrize("text", NOT_ONE_EMOJI)
def test_anything_but_one_emoji_is_a_bad_request(room, text):
    msg = room.send("ann", "react properly")
    error = refused(room.api("bob").put(f"/api/messages/{msg['id']}/reactions/{quoted(text)}"),
                    400, "bad_request")
    assert "emoji" in error["fields"]
    answer = room.devices["bob"][0].request({"type": "react", "message_id": msg["id"], "emoji": text})
    assert answer["type"] == "error" and answer["code"] == "bad_request"
    assert room.devices["bob"][0].request({"type": "ping"})["type"] == "pong"
    assert [m["reactions"] for m in room.history("ann") if m["id"] == msg["id"]] == [[]]


def test_reactions_over_websocket(room):
    msg = room.send("ann", "frames too")
    ws = room.devices["cat"][1]
    assert ws.request({"type": "react", "message_id": msg["id"], "emoji": PARTY})["type"] == "ok"
    event = frames_of(room.devices["ann"][0], "reaction", message_id=msg["id"])
    assert event["reactions"] == [{"emoji": PARTY, "user_ids": [room.uid("cat")]}]
    assert ws.request({"type": "unreact", "message_id": msg["id"], "emoji": PARTY})["type"] == "ok"
    event = frames_of(room.devices["ann"][0], "reaction", message_id=msg["id"])
    assert event["added"] is False and event["reactions"] == []
    for frame in ({"type": "react", "message_id": msg["id"]}, {"type": "react", "emoji": PARTY}):
        assert ws.request(frame)["code"] == "bad_request"


def test_outsiders_cannot_react_and_deleted_messages_take_no_reactions(room):
    msg = room.send("ann", "members only")
    for outsider in room.outsiders():
        refused(outsider.put(f"/api/messages/{msg['id']}/reactions/{quoted(PARTY)}"), 404, "not_found")
    ok(room.api("ann").delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}), 204)
    refused(room.api("bob").put(f"/api/messages/{msg['id']}/reactions/{quoted(PARTY)}"), 404, "not_found")


def test_twenty_people_reacting_at_once_make_exactly_twenty(api, server):
    names = [f"p{i:02d}" for i in range(20)]
    _, people = make_team(api, *names)
    ids = [people[n]["user"]["id"] for n in names]
    owner = people[names[0]]["api"]
    chat_id = ok(owner.post("/api/chats", json={"member_ids": ids[1:], "title": "all hands"}), 201)["id"]
    msg = ok(owner.post(f"/api/chats/{chat_id}/messages", json={"body": "vote", "client_msg_id": "v"}), 201)

    def react(name):
        for emoji in (PARTY, THUMBS, PARTY):   # each twice-ish: idempotent
            ok(people[name]["api"].put(f"/api/messages/{msg['id']}/reactions/{quoted(emoji)}"))

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(react, names))
    seen = ok(owner.get(f"/api/chats/{chat_id}/messages"))["messages"][0]
    by_emoji = {r["emoji"]: sorted(r["user_ids"]) for r in seen["reactions"]}
    assert by_emoji == {THUMBS: sorted(ids), PARTY: sorted(ids)}
    assert sorted(seen["liked_by"]) == sorted(ids)


def test_pipelined_frames_about_one_message_keep_their_order(room):
    """Frames run concurrently on one connection, but changes to one message keep the order
    they were sent in: a react sent before an unreact never lands after it."""
    msg = room.send("ann", "order matters")
    ws = room.devices["bob"][0]
    refs = []
    for i in range(10):   # react, unreact, react, ... without waiting for the answers
        kind = "react" if i % 2 == 0 else "unreact"
        ref = f"order-{i}"
        refs.append(ref)
        ws.send({"type": kind, "message_id": msg["id"], "emoji": PARTY, "ref": ref})
        ws.send({"type": "like" if i % 2 == 0 else "unlike", "message_id": msg["id"], "ref": f"like-{i}"})
    for ref in refs + [f"like-{i}" for i in range(10)]:
        answer = ws.read_until(lambda r=ref: ws.first_unseen(lambda f: f.get("ref") == r), 10, ref)
        assert answer["type"] == "ok", answer
    (seen,) = [m for m in room.history("cat") if m["id"] == msg["id"]]
    assert seen["reactions"] == [] and seen["liked_by"] == []
