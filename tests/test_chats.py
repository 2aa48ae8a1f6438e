"""Chats and messages as users live them: three users, two devices (WebSocket connections)
each, a real server and a real engine.

Every story checks what each device is told (events) and what every view answers (REST),
because a chat client relies on both: live events to render now, REST to catch up.
"""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import (WS, Api, create_chat, forbidden, history, make_team, not_found, ok, send, send_ws,
                           team_with_chat)

USERS = ("ann", "bob", "cat")


# ---------------------------------------------------------------------------- helpers

def take(ws: WS, type_: str, pred=lambda f: True, count: int = 1, timeout: float = 15,
         quiet: float = 0.05) -> list[dict]:
    """Wait until ``count`` unseen frames of this type (matching ``pred``) arrived, then read
    what else is already there (so that a duplicate would show), and return copies of every
    matching unseen frame, marking them seen."""
    def matching():
        return [f for f in ws._unseen() if f["type"] == type_ and pred(f)]

    ws.read_until(lambda: True if len(matching()) >= count else None, timeout,
                  lambda: f"{len(matching())} of {count} {type_} frames")
    ws.drain(quiet)
    found = matching()
    for f in found:
        f["_seen"] = True
    return [{k: v for k, v in f.items() if k != "_seen"} for f in found]


def take_all(devices, type_: str, pred=lambda f: True, count: int = 1, settle: float = 0.4,
             **kw) -> list[list[dict]]:
    """``take`` on every device; waits ``settle`` seconds once, before reading the rest,
    so that late duplicates show on every device."""
    time.sleep(settle)
    return [take(ws, type_, pred, count, **kw) for ws in devices]


def none_of(devices, type_: str, pred=lambda f: True, quiet: float = 0.6) -> None:
    """Assert that no unseen frame of this type (matching ``pred``) arrives on any device."""
    if isinstance(devices, WS):
        devices = [devices]
    time.sleep(quiet)
    for ws in devices:
        ws.drain(0.05)
        extra = [f for f in ws._unseen() if f["type"] == type_ and pred(f)]
        assert not extra, f"unexpected {type_} frames: {extra}"


def in_chat(chat_id):
    def pred(f):
        return (f.get("chat_id") or (f.get("message") or {}).get("chat_id")
                or (f.get("chat") or {}).get("id")) == chat_id
    return pred


def ids(messages) -> list[int]:
    return [int(m["id"]) for m in messages]


def chat_list(person) -> list[dict]:
    return ok(person["api"].get("/api/chats"))["chats"]


def chat_in_list(person, chat_id) -> dict:
    (chat,) = [c for c in chat_list(person) if c["id"] == chat_id]
    return chat


class Trio:
    """ann, bob and cat, each with two open devices."""

    def __init__(self, api, server):
        self.team, self.people = make_team(api, *USERS)
        self.server = server
        self.devices = {name: [WS(server.url, p["token"]), WS(server.url, p["token"])]
                        for name, p in self.people.items()}

    def __getitem__(self, name):
        return self.people[name]

    def uid(self, name):
        return self.people[name]["user"]["id"]

    def all_devices(self, *names):
        return [ws for name in (names or USERS) for ws in self.devices[name]]

    def group(self, creator="ann", members=USERS, title="plans") -> str:
        chat = create_chat(self[creator], *(self[n] for n in members), title=title)
        for ws in self.all_devices(*members):
            take(ws, "chat", in_chat(chat["id"]))
        return chat["id"]

    def send_ws(self, name, chat_id, body, device=0) -> dict:
        return send_ws(self.devices[name][device], chat_id, body)

    def send_rest(self, name, chat_id, body) -> dict:
        return send(self[name], chat_id, body)

    def close(self):
        for ws in self.all_devices():
            ws.close()


@pytest.fixture
def trio(api, server):
    t = Trio(api, server)
    yield t
    t.close()


# ---------------------------------------------------------------------------- creating chats

def test_direct_chat_is_created_once_and_reused_from_either_side(trio):
    ann, bob = trio["ann"], trio["bob"]
    chat = create_chat(ann, trio["bob"])
    assert chat["kind"] == "direct" and chat["title"] is None
    assert sorted(chat["member_ids"]) == sorted([trio.uid("ann"), trio.uid("bob")])
    assert chat["created_by"] == trio.uid("ann")
    assert chat["last_message"] is None and chat["unread_count"] == 0 and chat["reads"] == {}
    assert isinstance(chat["id"], str) and chat["created_at"].endswith("Z")

    # Both devices of both members hear of it; cat, who is not in it, does not.
    for ws in trio.all_devices("ann", "bob"):
        (event,) = take(ws, "chat", in_chat(chat["id"]))
        assert event["chat"]["kind"] == "direct"
        assert sorted(event["chat"]["member_ids"]) == sorted(chat["member_ids"])
    none_of(trio.all_devices("cat"), "chat")

    # Asking again, from either side, answers the same chat with 200 and no new event.
    again = create_chat(ann, bob, expect=200)
    other_side = create_chat(bob, ann, expect=200)
    with_self = create_chat(bob, ann, bob, expect=200)
    assert again["id"] == other_side["id"] == with_self["id"] == chat["id"]
    none_of(trio.all_devices("ann", "bob"), "chat")
    assert [c["id"] for c in chat_list(ann)].count(chat["id"]) == 1
    assert [c["id"] for c in chat_list(bob)].count(chat["id"]) == 1

    # A different pair is a different direct chat.
    ann_cat = create_chat(ann, trio["cat"])
    assert ann_cat["id"] != chat["id"] and ann_cat["kind"] == "direct"
    assert ok(ann["api"].get(f"/api/chats/{chat['id']}"))["id"] == chat["id"]


def test_group_chats_and_chat_events_to_every_member_device(trio):
    ann = trio["ann"]
    titled = create_chat(ann, trio["bob"], title="pair")
    assert titled["kind"] == "group" and titled["title"] == "pair"
    untitled = create_chat(ann, trio["bob"], trio["cat"])
    assert untitled["kind"] == "group"
    assert sorted(untitled["member_ids"]) == sorted(trio.uid(n) for n in USERS)
    # A titled chat of the same pair is never the "existing direct chat": asking twice
    # makes two groups.
    titled2 = create_chat(ann, trio["bob"], title="pair")
    assert titled2["id"] != titled["id"]

    for ws in trio.all_devices("ann", "bob"):
        for chat in (titled, untitled, titled2):
            (event,) = take(ws, "chat", in_chat(chat["id"]))
            assert event["chat"]["kind"] == "group"
    for ws in trio.all_devices("cat"):
        (event,) = take(ws, "chat", in_chat(untitled["id"]))
        assert event["chat"]["member_ids"] == untitled["member_ids"]
        none_of(ws, "chat")
    got = ok(trio["cat"]["api"].get(f"/api/chats/{untitled['id']}"))
    assert got["id"] == untitled["id"] and got["kind"] == "group"


# ---------------------------------------------------------------------------- messages

def test_every_device_of_every_member_gets_each_message_once_in_order(trio):
    chat_id = trio.group()
    sent = []
    # Interleaved senders and transports, including both devices of one user.
    for i in range(4):
        sent.append(trio.send_ws("ann", chat_id, f"ann {i}", device=i % 2))
        sent.append(trio.send_rest("bob", chat_id, f"bob {i}"))
        sent.append(trio.send_ws("cat", chat_id, f"cat {i}", device=1))
    expected = ids(sent)
    assert expected == sorted(expected) and len(set(expected)) == len(expected)

    for events in take_all(trio.all_devices(), "message", in_chat(chat_id), count=len(sent)):
        assert ids(e["message"] for e in events) == expected, "each message once, in id order"
        assert [e["message"]["body"] for e in events] == [m["body"] for m in sent]
    # The sender's own connection got its ack and the event too; the events are full Messages.
    first = next(f for f in trio.devices["ann"][0].frames
                 if f["type"] == "message" and f["message"]["id"] == sent[0]["id"])["message"]
    assert first == sent[0]
    assert set(first) == {"id", "chat_id", "sender_id", "body", "created_at", "client_msg_id",
                          "liked_by", "deleted", "edited_at", "thread_id", "also_in_chat",
                          "reply_count", "last_reply_at", "reply_user_ids", "reactions",
                          "mentions", "files"}   # PROTOCOL.md's Message (also_in_chat added)
    assert first["sender_id"] == trio.uid("ann") and first["liked_by"] == [] and first["deleted"] is False

    for name in USERS:
        page = history(trio[name], chat_id)
        assert page["messages"] == sent and page["has_more"] is False
        chat = chat_in_list(trio[name], chat_id)
        assert chat["last_message"] == sent[-1]


def test_likes_and_unlikes_are_idempotent_and_reach_every_device(trio):
    chat_id = trio.group()
    msg = trio.send_ws("ann", chat_id, "like me")
    for ws in trio.all_devices():
        take(ws, "message", in_chat(chat_id))
    bob, cat = trio.uid("bob"), trio.uid("cat")

    assert trio.devices["bob"][0].request({"type": "like", "message_id": msg["id"]})["type"] == "ok"
    for ws in trio.all_devices():
        (event,) = take(ws, "liked", in_chat(chat_id))
        assert event == {"type": "liked", "chat_id": chat_id, "message_id": msg["id"],
                         "user_id": bob, "liked_by": [bob]}

    liked = ok(trio["cat"]["api"].put(f"/api/messages/{msg['id']}/like"))
    assert liked["id"] == msg["id"] and liked["liked_by"] == [bob, cat]
    for ws in trio.all_devices():
        (event,) = take(ws, "liked", in_chat(chat_id))
        assert event["user_id"] == cat and event["liked_by"] == [bob, cat]

    # Liking again changes nothing and tells nobody.
    assert ok(trio["bob"]["api"].put(f"/api/messages/{msg['id']}/like"))["liked_by"] == [bob, cat]
    assert trio.devices["bob"][1].request({"type": "like", "message_id": msg["id"]})["type"] == "ok"
    none_of(trio.all_devices(), "liked")
    for name in USERS:
        (m,) = history(trio[name], chat_id)["messages"]
        assert m["liked_by"] == [bob, cat]

    assert trio.devices["bob"][1].request({"type": "unlike", "message_id": msg["id"]})["type"] == "ok"
    for ws in trio.all_devices():
        (event,) = take(ws, "unliked", in_chat(chat_id))
        assert event == {"type": "unliked", "chat_id": chat_id, "message_id": msg["id"],
                         "user_id": bob, "liked_by": [cat]}
    assert ok(trio["bob"]["api"].delete(f"/api/messages/{msg['id']}/like"))["liked_by"] == [cat]
    none_of(trio.all_devices(), "unliked")
    for name in USERS:
        (m,) = history(trio[name], chat_id)["messages"]
        assert m["liked_by"] == [cat]
    # A fresh device of a liker sees the like too (it is stored, not just cached).
    assert chat_in_list(trio["ann"], chat_id)["last_message"]["liked_by"] == [cat]


def test_read_markers_only_move_forward(trio):
    chat_id = trio.group()
    m1, m2, m3 = (trio.send_rest("ann", chat_id, f"m{i}") for i in (1, 2, 3))
    for ws in trio.all_devices():
        take(ws, "message", in_chat(chat_id), count=3)
    ann, bob, cat = trio.uid("ann"), trio.uid("bob"), trio.uid("cat")

    chat = chat_in_list(trio["bob"], chat_id)
    assert chat["unread_count"] == 3 and chat["reads"] == {}
    assert chat_in_list(trio["ann"], chat_id)["unread_count"] == 0  # her own messages

    assert trio.devices["bob"][0].request({"type": "read", "chat_id": chat_id,
                                           "message_id": m2["id"]})["type"] == "ok"
    for ws in trio.all_devices():
        (event,) = take(ws, "read", in_chat(chat_id))
        assert event == {"type": "read", "chat_id": chat_id, "user_id": bob, "message_id": m2["id"]}
    chat = chat_in_list(trio["bob"], chat_id)
    assert chat["reads"] == {bob: m2["id"]} and chat["unread_count"] == 1
    assert chat_in_list(trio["ann"], chat_id)["reads"] == {bob: m2["id"]}
    assert ok(trio["cat"]["api"].get(f"/api/chats/{chat_id}"))["reads"] == {bob: m2["id"]}

    # An older id is accepted but does not move the marker, and tells nobody.
    r = trio["bob"]["api"].post(f"/api/chats/{chat_id}/read", json={"message_id": m1["id"]})
    assert r.status_code == 204, r.text
    assert trio.devices["bob"][1].request({"type": "read", "chat_id": chat_id,
                                           "message_id": m1["id"]})["type"] == "ok"
    none_of(trio.all_devices(), "read")
    chat = chat_in_list(trio["bob"], chat_id)
    assert chat["reads"] == {bob: m2["id"]} and chat["unread_count"] == 1

    r = trio["bob"]["api"].post(f"/api/chats/{chat_id}/read", json={"message_id": m3["id"]})
    assert r.status_code == 204, r.text
    for ws in trio.all_devices():
        (event,) = take(ws, "read", in_chat(chat_id))
        assert event["user_id"] == bob and event["message_id"] == m3["id"]
    cat_read = trio["cat"]["api"].post(f"/api/chats/{chat_id}/read", json={"message_id": m1["id"]})
    assert cat_read.status_code == 204
    for ws in trio.all_devices():
        take(ws, "read", in_chat(chat_id))
    assert chat_in_list(trio["bob"], chat_id)["unread_count"] == 0
    chat = chat_in_list(trio["cat"], chat_id)
    assert chat["unread_count"] == 2
    assert chat["reads"] == {bob: m3["id"], cat: m1["id"]}

    # A message from cat is unread for ann and bob, not for cat herself.
    trio.send_rest("cat", chat_id, "news")
    assert chat_in_list(trio["bob"], chat_id)["unread_count"] == 1
    assert chat_in_list(trio["ann"], chat_id)["unread_count"] == 1
    assert chat_in_list(trio["cat"], chat_id)["unread_count"] == 2


def test_delete_for_me_hides_only_for_the_actor(trio):
    chat_id = trio.group()
    keep = trio.send_rest("bob", chat_id, "keep")
    gone = trio.send_rest("bob", chat_id, "hide me")
    last = trio.send_rest("bob", chat_id, "after")
    for ws in trio.all_devices():
        take(ws, "message", in_chat(chat_id), count=3)

    r = trio["cat"]["api"].delete(f"/api/messages/{gone['id']}", params={"for": "me"})
    assert r.status_code == 204, r.text
    for ws in trio.all_devices("cat"):
        (event,) = take(ws, "deleted", in_chat(chat_id))
        assert event == {"type": "deleted", "chat_id": chat_id, "message_id": gone["id"], "for": "me"}
    none_of(trio.all_devices("ann", "bob"), "deleted")

    assert ids(history(trio["cat"], chat_id)["messages"]) == ids([keep, last])
    for name in ("ann", "bob"):
        msgs = history(trio[name], chat_id)["messages"]
        assert msgs == [keep, gone, last]
    # For cat the hidden message is gone everywhere, context and likes included.
    assert trio["cat"]["api"].get(f"/api/messages/{gone['id']}/context").status_code == 404
    assert trio["cat"]["api"].put(f"/api/messages/{gone['id']}/like").status_code == 404
    # Sent over WS by the sender herself, it hides only for her.
    assert trio.devices["bob"][1].request({"type": "delete", "message_id": last["id"],
                                           "for": "me"})["type"] == "ok"
    for ws in trio.all_devices("bob"):
        (event,) = take(ws, "deleted", in_chat(chat_id))
        assert event["for"] == "me" and event["message_id"] == last["id"]
    none_of(trio.all_devices("ann", "cat"), "deleted")
    assert ids(history(trio["bob"], chat_id)["messages"]) == ids([keep, gone])
    assert ids(history(trio["ann"], chat_id)["messages"]) == ids([keep, gone, last])
    assert chat_in_list(trio["bob"], chat_id)["last_message"]["id"] == gone["id"]
    assert chat_in_list(trio["ann"], chat_id)["last_message"]["id"] == last["id"]


def test_delete_for_everyone_blanks_the_message_for_all(trio):
    chat_id = trio.group()
    msg = trio.send_ws("ann", chat_id, "oops, secret")
    after = trio.send_ws("bob", chat_id, "what was that")
    for ws in trio.all_devices():
        take(ws, "message", in_chat(chat_id), count=2)

    # Not the sender: forbidden, and nothing changes.
    forbidden(trio["bob"]["api"].delete(f"/api/messages/{msg['id']}", params={"for": "everyone"}))
    assert history(trio["cat"], chat_id)["messages"][0]["body"] == "oops, secret"

    assert trio.devices["ann"][1].request({"type": "delete", "message_id": msg["id"],
                                           "for": "everyone"})["type"] == "ok"
    for ws in trio.all_devices():
        (event,) = take(ws, "deleted", in_chat(chat_id))
        assert event == {"type": "deleted", "chat_id": chat_id, "message_id": msg["id"],
                         "for": "everyone"}
    for name in USERS:
        first, second = history(trio[name], chat_id)["messages"]
        assert first["id"] == msg["id"] and first["body"] == "" and first["deleted"] is True
        assert first["sender_id"] == trio.uid("ann")
        assert second == after
        ctx = ok(trio[name]["api"].get(f"/api/messages/{msg['id']}/context"))
        assert ctx["messages"][0]["body"] == "" and ctx["messages"][0]["deleted"] is True
    # Deleting again is harmless.
    r = trio["ann"]["api"].delete(f"/api/messages/{msg['id']}", params={"for": "everyone"})
    assert r.status_code == 204
    assert history(trio["bob"], chat_id)["messages"][0]["body"] == ""


def test_leaving_a_chat(trio):
    chat_id = trio.group()
    before = trio.send_rest("ann", chat_id, "before cat leaves")
    for ws in trio.all_devices():
        take(ws, "message", in_chat(chat_id))
    cat = trio.uid("cat")

    r = trio["cat"]["api"].post(f"/api/chats/{chat_id}/leave")
    assert r.status_code == 204, r.text
    for ws in trio.all_devices():  # the others and the leaver's own devices
        (event,) = take(ws, "left", in_chat(chat_id))
        assert event == {"type": "left", "chat_id": chat_id, "user_id": cat}

    after = trio.send_ws("ann", chat_id, "after cat left")
    trio.devices["bob"][0].request({"type": "like", "message_id": after["id"]})
    trio.devices["ann"][0].request({"type": "read", "chat_id": chat_id, "message_id": after["id"]})
    for ws in trio.all_devices("ann", "bob"):
        take(ws, "message", in_chat(chat_id))
        take(ws, "liked", in_chat(chat_id))
        take(ws, "read", in_chat(chat_id))
    for ws in trio.all_devices("cat"):
        ws.drain(0.6)
        assert not [f for f in ws._unseen() if in_chat(chat_id)(f)], ws._unseen()

    assert chat_id not in [c["id"] for c in chat_list(trio["cat"])]
    for path in (f"/api/chats/{chat_id}", f"/api/chats/{chat_id}/messages",
                 f"/api/messages/{before['id']}/context"):
        not_found(trio["cat"]["api"].get(path))

    for name in ("ann", "bob"):
        chat = chat_in_list(trio[name], chat_id)
        assert cat not in chat["member_ids"] and len(chat["member_ids"]) == 2
        assert ids(history(trio[name], chat_id)["messages"]) == ids([before, after])


def test_roaming_a_fresh_device_sees_everything_in_order(trio, api, server):
    direct = create_chat(trio["ann"], trio["bob"])["id"]
    group = trio.group()
    sent = {direct: [], group: []}
    for i in range(6):
        sent[direct].append(trio.send_ws("ann", direct, f"direct {i}"))
        sent[group].append(trio.send_rest("cat", group, f"group {i}"))
        sent[direct].append(trio.send_rest("bob", direct, f"reply {i}"))

    login = ok(api.post("/api/auth/login", json={"team": trio.team["name"], "username": "bob",
                                                 "password": "password123"}))
    fresh = api.as_user(login["token"])
    laptop = WS(server.url, login["token"])
    try:
        assert laptop.ready["user"]["id"] == trio.uid("bob")
        listed = {c["id"]: c for c in ok(fresh.get("/api/chats"))["chats"]}
        assert set(listed) == {direct, group}
        for chat_id, msgs in sent.items():
            page = ok(fresh.get(f"/api/chats/{chat_id}/messages"))
            assert page["messages"] == msgs and page["has_more"] is False
            assert listed[chat_id]["last_message"] == msgs[-1]
        # ... and takes part at once: a new message reaches the new device and the old ones.
        new = trio.send_ws("ann", direct, "welcome back")
        (event,) = take(laptop, "message", in_chat(direct))
        assert event["message"] == new
        for ws in trio.all_devices("bob"):
            got = take(ws, "message", in_chat(direct), count=len(sent[direct]) + 1)
            assert ids(e["message"] for e in got) == ids(sent[direct] + [new])
    finally:
        laptop.close()


def test_chat_list_is_ordered_by_latest_activity(trio):
    ann = trio["ann"]
    a = create_chat(ann, trio["bob"], title="A")["id"]
    b = create_chat(ann, trio["cat"], title="B")["id"]
    c = create_chat(ann, trio["bob"], trio["cat"], title="C")["id"]
    assert [x["id"] for x in chat_list(ann)] == [c, b, a]
    trio.send_rest("bob", a, "bump A")
    assert [x["id"] for x in chat_list(ann)] == [a, c, b]
    trio.send_ws("ann", b, "bump B")
    assert [x["id"] for x in chat_list(ann)] == [b, a, c]
    assert [x["id"] for x in chat_list(trio["cat"])] == [b, c]
    assert [x["id"] for x in chat_list(trio["bob"])] == [a, c]


# ---------------------------------------------------------------------------- long history

TOTAL = 330  # more than the server's in-memory tail (300): older pages come from the engine


@pytest.fixture(scope="module")
def long_chat(server):
    """A chat of TOTAL messages sent as fast as the server takes them, in id order."""
    p = team_with_chat(Api(server.url), "dan", "eve")
    dan, eve, chat_id = p["dan"], p["eve"], p["chat_id"]

    def send_one(i):
        who = dan if i % 3 else eve   # a client of its own per call: threads share no session
        return send({"api": who["api"].as_user(who["token"])}, chat_id, f"message {i}", f"c{i}")

    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(send_one, range(TOTAL)))
    sent.sort(key=lambda m: int(m["id"]))
    return {"chat_id": chat_id, "dan": dan, "eve": eve, "sent": sent}


def test_history_pages_backwards_over_the_whole_chat(long_chat):
    chat_id, dan, sent = long_chat["chat_id"], long_chat["dan"], long_chat["sent"]
    assert len(sent) == TOTAL
    for limit in (50, 200, 7):
        seen = []
        page = history(dan, chat_id, limit=limit)
        while True:
            msgs = page["messages"]
            assert ids(msgs) == sorted(ids(msgs))
            assert len(msgs) == limit or not page["has_more"]
            seen[:0] = msgs
            if not page["has_more"]:
                break
            page = history(dan, chat_id, limit=limit, before=msgs[0]["id"])
        assert ids(seen) == ids(sent), f"limit {limit}: every message once, ascending, no gaps"
        assert seen == sent
    default = history(dan, chat_id)
    assert default["messages"] == sent[-50:] and default["has_more"] is True


def test_history_pages_forwards_over_the_whole_chat(long_chat):
    chat_id, eve, sent = long_chat["chat_id"], long_chat["eve"], long_chat["sent"]
    for limit in (50, 200, 13):
        seen, cursor = [], chat_id  # a chat id is older than all its messages
        while True:
            page = history(eve, chat_id, limit=limit, after=cursor)
            msgs = page["messages"]
            assert ids(msgs) == sorted(ids(msgs))
            assert len(msgs) == limit or not page["has_more"]
            seen += msgs
            if not page["has_more"]:
                break
            cursor = msgs[-1]["id"]
        assert ids(seen) == ids(sent), f"limit {limit}"
    # Catching up after a given message; nothing after the last one.
    page = history(eve, chat_id, after=sent[99]["id"], limit=10)
    assert page["messages"] == sent[100:110] and page["has_more"] is True
    page = history(eve, chat_id, after=sent[-1]["id"])
    assert page == {"messages": [], "has_more": False}
    page = history(eve, chat_id, before=sent[0]["id"])
    assert page == {"messages": [], "has_more": False}
    # Both cursors: the window between them.
    page = history(eve, chat_id, after=sent[10]["id"], before=sent[20]["id"])
    assert page["messages"] == sent[11:20]


def test_context_around_a_message(long_chat):
    chat_id, dan, sent = long_chat["chat_id"], long_chat["dan"], long_chat["sent"]

    def context(i, **params):
        return ok(dan["api"].get(f"/api/messages/{sent[i]['id']}/context", params=params))

    for i in (100, 29, 30, 31, 200):  # from the engine, across the tail boundary, in the tail
        got = context(i, before=5, after=5)
        assert got["messages"] == sent[i - 5:i + 6], i
        assert got["has_more_before"] is True and got["has_more_after"] is True
    got = context(150)  # defaults: 10 and 10
    assert got["messages"] == sent[140:161]
    got = context(0, before=10, after=3)
    assert got["messages"] == sent[0:4]
    assert got["has_more_before"] is False and got["has_more_after"] is True
    got = context(TOTAL - 1, before=3, after=10)
    assert got["messages"] == sent[-4:]
    assert got["has_more_before"] is True and got["has_more_after"] is False
    got = context(5, before=5, after=0)
    assert got["messages"] == sent[0:6]
    assert got["has_more_before"] is False and got["has_more_after"] is True
    got = context(50, before=0, after=0)
    assert got["messages"] == [sent[50]]
    got = context(TOTAL - 101, before=100, after=100)
    assert got["messages"] == sent[TOTAL - 201:]
    assert got["has_more_before"] is True and got["has_more_after"] is False
    assert chat_in_list(dan, chat_id)["last_message"] == sent[-1]
