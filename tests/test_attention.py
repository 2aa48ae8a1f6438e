"""Attention: @mentions, mention counts, per-chat settings (mute, notify) and typing
(PROTOCOL.md `mentions`, `mention_count`, `muted`/`notify`, the `typing` frame and event,
`is:mentioned`). The parser alone first, then end to end on a real server and engine.
"""
import time
import uuid

import pytest

from chatsvc.chat.mentions import mentioned_ids
from tests.helpers import WS, assert_error, make_team, ok, wait_until

# ---------------------------------------------------------------------------- the parser

NAMES = {"ann": "a", "bob": "b", "cat": "c", "dan": "d", "bob.smith": "bs", "x-ray": "x"}
GROUP = {"member_ids": ["a", "b", "c", "x"], "kind": "group"}
DIRECT = {"member_ids": ["a", "b"], "kind": "direct"}


@pytest.mark.parametrize("body, expected", [
    ("hi @bob", ["b"]),
    ("@BOB and @Cat", ["b", "c"]),                       # any case
    ("thanks @bob, @cat.", ["b", "c"]),                  # punctuation after the name
    ("(@cat) [@bob]", ["c", "b"]),
    ("@bob? @bob! @bob", ["b"]),                          # each once, in first-named order
    ("@x-ray is in", ["x"]),                              # a name with a dash
    ("so long @x-ray-", ["x"]),
    ("write to ann@bob.com", []),                         # an e-mail address
    ("bob@cat", []),
    ("`@bob` is the syntax", []),                         # inline code
    ("``code with ` and @bob``", []),
    ("```\n@cat look\n``` but @bob", ["b"]),             # a fenced block
    ("@dan is not in this chat", []),                     # not a member
    ("@bob.smith is not in this chat", []),
    ("@ann notes to self", []),                           # the sender
    ("@all please review", ["b", "c", "x"]),              # everyone but the sender
    ("@ALL", ["b", "c", "x"]),
    ("@@bob", []),
    ("@", []),
    ("email@all.example", []),
])
def test_mentions_in_a_group(body, expected):
    assert mentioned_ids(body, GROUP, NAMES, "a") == expected


def test_all_in_a_direct_chat_is_plain_text():
    assert mentioned_ids("@all", DIRECT, NAMES, "a") == []
    assert mentioned_ids("@all @bob", DIRECT, NAMES, "a") == ["b"]


def test_a_former_member_is_not_mentioned():
    left = {"member_ids": ["a", "c"], "kind": "group", "former_member_ids": ["b"]}
    assert mentioned_ids("@bob @cat", left, NAMES, "a") == ["c"]


# ---------------------------------------------------------------------------- end to end

class Team:
    """ann, bob (two devices) and cat in a group chat; dan is in the team, not the chat;
    zed is in another team."""

    def __init__(self, api, server):
        _, self.p = make_team(api, "ann", "bob", "cat", "dan")
        _, other = make_team(api, "zed")
        self.p["zed"] = other["zed"]
        self.chat_id = ok(self.api("ann").post("/api/chats", json={
            "member_ids": [self.uid("bob"), self.uid("cat")], "title": "ops"}), 201)["id"]
        self.ws = {"ann": [WS(server.url, self.p["ann"]["token"])],
                   "bob": [WS(server.url, self.p["bob"]["token"]), WS(server.url, self.p["bob"]["token"])],
                   "cat": [WS(server.url, self.p["cat"]["token"])]}

    def api(self, name):
        return self.p[name]["api"]

    def uid(self, name):
        return self.p[name]["user"]["id"]

    def send(self, name, body, chat_id=None, **extra):
        return ok(self.api(name).post(f"/api/chats/{chat_id or self.chat_id}/messages", json={
            "body": body, "client_msg_id": uuid.uuid4().hex, **extra}), 201)

    def chat(self, name, chat_id=None):
        return ok(self.api(name).get(f"/api/chats/{chat_id or self.chat_id}"))

    def close(self):
        for devices in self.ws.values():
            for ws in devices:
                ws.close()


@pytest.fixture
def team(api, server):
    t = Team(api, server)
    yield t
    t.close()


def test_the_server_finds_mentions_and_counts_them_until_read(team):
    plain = team.send("ann", "no mention here")
    first = team.send("ann", "@bob can you look?")
    assert first["mentions"] == [team.uid("bob")] and plain["mentions"] == []
    bob = team.ws["bob"][0]
    event = bob.read_until(lambda: bob.first_unseen(
        lambda f: f["type"] == "message" and f["message"]["id"] == first["id"]), 10, "the mention")
    assert event["message"]["mentions"] == [team.uid("bob")]
    team.send("cat", "@all standup in 5")
    team.send("ann", "write to bob@example.com about `@bob`")
    chat = team.chat("bob")
    assert chat["mention_count"] == 2 and chat["unread_count"] == 4
    assert team.chat("cat")["mention_count"] == 0        # her own @all does not call her
    assert team.chat("ann")["mention_count"] == 1        # cat's @all
    assert_error(team.api("dan").get(f"/api/chats/{team.chat_id}"), 404, "not_found")
    # read on one device: the count falls on every device
    ok(team.api("bob").post(f"/api/chats/{team.chat_id}/read", json={"message_id": first["id"]}), 204)
    assert team.chat("bob")["mention_count"] == 1
    read = team.ws["bob"][1].wait("read", 10, user_id=team.uid("bob"))
    assert read["message_id"] == first["id"]
    last = team.send("ann", "@BOB one more")
    assert team.chat("bob")["mention_count"] == 2
    ok(team.api("bob").post(f"/api/chats/{team.chat_id}/read", json={"message_id": last["id"]}), 204)
    assert team.chat("bob")["mention_count"] == 0


def test_mentions_of_outsiders_are_plain_text(team):
    msg = team.send("ann", "@dan and @zed, and @cat")
    assert msg["mentions"] == [team.uid("cat")]
    assert team.chat("cat")["mention_count"] == 1


def test_an_edit_reparses_mentions(team):
    msg = team.send("ann", "hello all")
    edited = ok(team.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": "hello @cat"}))
    assert edited["mentions"] == [team.uid("cat")]
    assert team.chat("cat")["mention_count"] == 1
    ok(team.api("ann").patch(f"/api/messages/{msg['id']}", json={"body": "hello"}))
    assert team.chat("cat")["mention_count"] == 0


def test_is_mentioned_finds_what_mentions_the_searcher(team):
    hit = team.send("ann", "@bob the zanzibar report is late")
    team.send("ann", "@cat the zanzibar slides")

    def found(name):
        r = ok(team.api(name).get("/api/search", params={"q": "zanzibar is:mentioned"}))
        return [h["message"]["id"] for h in r["hits"]]

    assert wait_until(lambda: found("bob") == [hit["id"]] or None, 10, "bob's mention in search")
    assert len(found("cat")) == 1 and found("cat") != [hit["id"]]
    assert found("ann") == []


def test_settings_follow_the_user_and_default_by_kind(team):
    group = team.chat("bob")
    assert group["muted"] is False and group["notify"] == "mentions"
    direct = ok(team.api("bob").post("/api/chats", json={"member_ids": [team.uid("ann")]}), 201)
    assert direct["notify"] == "all" and direct["muted"] is False
    url = f"/api/chats/{team.chat_id}/settings"
    changed = ok(team.api("bob").put(url, json={"muted": True}))
    assert changed["muted"] is True and changed["notify"] == "mentions"
    # the other device is told, and every device reads the same
    event = team.ws["bob"][1].read_until(
        lambda: team.ws["bob"][1].first_unseen(lambda f: f["type"] == "chat" and f["chat"]["id"] == team.chat_id),
        10, "the chat event of the settings change")
    assert event["chat"]["muted"] is True
    again = ok(team.api("bob").put(url, json={"notify": "none"}))
    assert again["muted"] is True and again["notify"] == "none"
    assert team.chat("bob")["notify"] == "none"
    assert team.chat("ann")["muted"] is False and team.chat("ann")["notify"] == "mentions"   # hers alone
    ok(team.api("bob").put(url, json={"muted": False, "notify": "all"}))
    assert {k: team.chat("bob")[k] for k in ("muted", "notify")} == {"muted": False, "notify": "all"}


@pytest.mark.parametrize("payload, field", [
    ({"notify": "sometimes"}, "notify"), ({"notify": ""}, "notify"), ({"notify": 3}, "notify"),
    ({"muted": "yes"}, "muted"), ({"muted": None}, "muted"), ({"muted": 1}, "muted"),
    ({"muted": 0}, "muted"), ({"volume": 11}, "volume")])
def test_bad_settings_are_refused(team, payload, field):
    assert_error(team.api("bob").put(f"/api/chats/{team.chat_id}/settings", json=payload),
                 400, "bad_request", field)
    assert {k: team.chat("bob")[k] for k in ("muted", "notify")} == {"muted": False, "notify": "mentions"}


def test_outsiders_have_no_settings_of_the_chat(team):
    for name in ("dan", "zed"):
        assert_error(team.api(name).put(f"/api/chats/{team.chat_id}/settings", json={"muted": True}),
                     404, "not_found")


def test_typing_reaches_the_other_members_throttled_and_never_the_typist(team):
    ann = team.ws["ann"][0]
    for _ in range(10):   # a burst: one event
        ann.send({"type": "typing", "chat_id": team.chat_id})
    for ws in team.ws["bob"] + team.ws["cat"]:
        event = ws.wait("typing", 10)
        assert {k: v for k, v in event.items() if k != "_seen"} == {
            "type": "typing", "chat_id": team.chat_id, "user_id": team.uid("ann")}
    time.sleep(1.0)
    for ws in team.ws["bob"] + team.ws["cat"] + team.ws["ann"]:
        ws.drain(0.1)
        assert not [f for f in ws._unseen() if f["type"] == "typing"]
    assert not [f for f in ann.frames if f["type"] in ("ok", "error")]   # typing has no answer
    assert ann.request({"type": "ping"})["type"] == "pong"


def test_typing_in_a_chat_one_is_not_in_is_an_error_and_forwards_nothing(team, server):
    dan = WS(server.url, team.p["dan"]["token"])
    try:
        answer = dan.request({"type": "typing", "chat_id": team.chat_id})
        assert answer["type"] == "error" and answer["code"] == "not_found"
        for frame in ({"type": "typing"}, {"type": "typing", "chat_id": "abc"}):
            assert dan.request(frame)["code"] == "bad_request"
        assert dan.request({"type": "ping"})["type"] == "pong"
    finally:
        dan.close()
    time.sleep(0.5)
    for ws in team.ws["bob"]:
        ws.drain(0.1)
        assert not [f for f in ws._unseen() if f["type"] == "typing"]
