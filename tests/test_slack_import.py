"""Slack import: scripts/import slack against a small export (tests/slack_export.py), then
what a user sees through a real server."""
import os
import re
import subprocess
import time

import pytest
import requests

from chatsvc.chat.slack_import import map_message, plain_text, unicode_emoji
from chatsvc.store import Engine
from chatsvc.store import imports as import_store
from chatsvc.store.indices import bootstrap
from tests import slack_export
from tests.conftest import ROOT
from tests.helpers import unique


def run_import(engine_url, prefix, *args):
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix)
    return subprocess.run([os.path.join(ROOT, "scripts", "import"), "slack", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def invite_code(output: str) -> str:
    return re.search(r"invite code: (\S+)", output).group(1)


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


@pytest.fixture(scope="module")
def imported(tmp_path_factory, engine_url, index_prefix, server):
    path = slack_export.write(str(tmp_path_factory.mktemp("slack") / "export.zip"))
    team = unique("acme")
    result = run_import(engine_url, index_prefix, path, "--team", team)
    assert result.returncode == 0, result.stderr
    return {"path": path, "team": team, "out": result.stdout, "code": invite_code(result.stdout)}


def login_or_signup(api, imported, username, password="password123") -> dict:
    r = api.post("/api/auth/login", json={"team": imported["team"], "username": username, "password": password})
    if r.status_code != 200:
        r = signup(api, imported, username, password)
    assert r.status_code in (200, 201), r.text
    return r.json()


def signup(api, imported, username, password="password123"):
    return api.post("/api/auth/signup", json={"team": imported["team"], "invite_code": imported["code"],
                                              "username": username, "display_name": username.title(),
                                              "password": password})


def test_summary_counts_users_chats_messages_and_mapped_features(imported):
    out = imported["out"]
    assert "(created)" in out
    assert "users: 6 created" in out          # five people and the deploy bot
    assert "chats: 4 created" in out
    assert f"messages: {slack_export.EXPECTED_MESSAGES} imported, 0 already there" in out
    for feature in ("likes (+1 reactions): 1", "emoji reactions: 2", "custom emoji reactions (as text): 1",
                    "reactions of users not in users.json (dropped): 1",
                    "thread replies (in their thread): 3", "thread replies also sent to the channel: 1",
                    "thread replies whose root is not in the export (as text): 1",
                    "thread roots (with their reply summary): 1",
                    "edits (edited_at; the export has only the final text): 1",
                    "files (as links): 1", "bot messages", "joins (as membership): 1", "leaves (as membership): 1"):
        assert feature in out, out


def test_imported_people_claim_their_account_once_with_the_invite_code(api, imported):
    r = api.post("/api/auth/login", json={"team": imported["team"], "username": "carol", "password": "x" * 10})
    assert r.status_code == 401       # no usable password before the claim
    r = signup(api, imported, "carol")
    assert r.status_code == 201, r.text
    assert signup(api, imported, "carol", "another-password").status_code == 409
    r = api.post("/api/auth/login", json={"team": imported["team"], "username": "carol", "password": "password123"})
    assert r.status_code == 200


def test_chats_members_times_order_likes_and_mapped_text(api, imported):
    alice = signup(api, imported, "alice").json()
    me = api.as_user(alice["token"])
    chats = {(c["kind"], c["title"]): c for c in me.get("/api/chats").json()["chats"]}
    assert set(chats) == {("group", "general"), ("group", "secret"), ("direct", None), ("group", None)}
    general = chats[("group", "general")]
    users = {u["username"]: u["id"] for u in me.get("/api/users").json()["users"]}
    assert sorted(general["member_ids"]) == sorted([users["alice"], users["bob"], users["carol"]])
    msgs = me.get(f"/api/chats/{general['id']}/messages?limit=200").json()["messages"]
    assert [int(m["id"]) for m in msgs] == sorted(int(m["id"]) for m in msgs)
    assert len(msgs) == 9
    first = msgs[0]
    assert first["created_at"] == iso(slack_export.T0 + 60)
    assert first["body"] == ("Morning @bob! See the plan (https://example.com/plan) & #general\n"
                             "[reactions: :partyparrot: @bob]")          # a custom emoji stays text
    assert sorted(first["liked_by"]) == sorted([users["bob"], users["carol"]])
    bodies = {m["body"]: m for m in msgs}
    assert "[file: notes.pdf (https://files.slack.com/F1/notes.pdf)]" in bodies
    assert "deployed the kangaroo release" in bodies
    assert bodies["deployed the kangaroo release"]["edited_at"] == iso(slack_export.T0 + 86400 + 50)
    assert msgs[-1]["created_at"] == iso(slack_export.T0 + 2 * 86400 + 2)


def test_threads_replies_roots_and_broadcasts(api, imported):
    bob = api.as_user(login_or_signup(api, imported, "bob")["token"])
    users = {u["username"]: u["id"] for u in bob.get("/api/users").json()["users"]}
    general = next(c for c in bob.get("/api/chats").json()["chats"] if c["title"] == "general")
    msgs = bob.get(f"/api/chats/{general['id']}/messages?limit=200").json()["messages"]
    root = msgs[0]
    assert root["reply_count"] == 3
    assert root["reply_user_ids"] == [users["bob"], users["carol"], users["alice"]]   # most recent last
    assert root["last_reply_at"] == iso(slack_export.T0 + 170.5)
    assert root["thread_id"] is None
    bodies = [m["body"] for m in msgs]
    assert "on it" not in bodies and "thanks both" not in bodies        # thread-only replies
    broadcast = next(m for m in msgs if m["body"] == "plan looks good to me")   # sent to the channel too
    assert broadcast["thread_id"] == root["id"] and broadcast["also_in_chat"] is True
    thread = bob.get(f"/api/messages/{root['id']}/thread").json()
    assert thread["root"]["id"] == root["id"]
    assert [(r["body"], r["created_at"], r["also_in_chat"]) for r in thread["replies"]] == [
        ("on it", iso(slack_export.T0 + 120), False),
        ("plan looks good to me", iso(slack_export.T0 + 150), True),
        ("thanks both", iso(slack_export.T0 + 170.5), False)]
    assert {r["thread_id"] for r in thread["replies"]} == {root["id"]}
    orphan = next(m for m in msgs if m["body"].startswith("late to this thread"))   # its root is not exported
    assert orphan["thread_id"] is None
    assert orphan["body"] == "late to this thread\n[reply in a thread started " + \
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(slack_export.T0 - 5 * 86400)) + "]"


def test_reactions_are_unicode_emoji_of_known_users(api, imported):
    carol = api.as_user(login_or_signup(api, imported, "carol")["token"])
    users = {u["username"]: u["id"] for u in carol.get("/api/users").json()["users"]}
    general = next(c for c in carol.get("/api/chats").json()["chats"] if c["title"] == "general")
    msgs = carol.get(f"/api/chats/{general['id']}/messages?limit=200").json()["messages"]
    assert msgs[0]["reactions"] == [
        {"emoji": "\U0001F44D", "user_ids": [users["bob"], users["carol"]]},       # the like, first
        {"emoji": "\U0001F389", "user_ids": [users["carol"]]},                     # :tada:
        {"emoji": "\u2764\ufe0f", "user_ids": [users["bob"], users["alice"]]}]      # :heart:, U9 unknown
    toned = next(m for m in msgs if m["body"] == "thumbs for this")
    assert toned["liked_by"] == []                                                # a skin tone is not the like
    assert toned["reactions"] == [{"emoji": "\U0001F44D\U0001F3FC", "user_ids": [users["carol"]]}]
    # They are real reactions: carol takes hers back like any other.
    r = carol.delete(f"/api/messages/{toned['id']}/reactions/" + requests.utils.quote("\U0001F44D\U0001F3FC"))
    assert r.status_code == 200, r.text
    assert r.json()["reactions"] == []


def test_former_members_do_not_see_the_channel_and_date_search_uses_the_original_times(api, imported):
    erin = api.as_user(signup(api, imported, "erin.novak").json()["token"])   # posted, never a member
    titles = [c["title"] for c in erin.get("/api/chats").json()["chats"]]
    assert "general" not in titles
    bob = api.as_user(login_or_signup(api, imported, "bob")["token"])
    day1 = slack_export.day(1)
    hits = bob.get("/api/search", params={"q": f"kangaroo on:{day1}"}).json()["hits"]
    assert [h["message"]["body"].split("\n")[0] for h in hits] == ["deployed the kangaroo release"]
    assert bob.get("/api/search", params={"q": f"kangaroo before:{day1}"}).json()["hits"] == []
    assert bob.get("/api/search", params={"q": "kangaroo", "sort": "recent"}).json()["total"] == 1


def test_a_second_run_adds_nothing(engine_url, index_prefix, imported):
    result = run_import(engine_url, index_prefix, imported["path"], "--team", imported["team"])
    assert result.returncode == 0, result.stderr
    assert "(existing)" in result.stdout
    assert "users: 0 created, 6 existing" in result.stdout
    assert "chats: 0 created, 4 already there" in result.stdout
    assert f"messages: 0 imported, {slack_export.EXPECTED_MESSAGES} already there" in result.stdout
    requests.post(f"{engine_url}/{index_prefix}-messages-*/_refresh", timeout=30)
    r = requests.get(f"{engine_url}/{index_prefix}-messages-*/_count", timeout=30,
                     json={"query": {"prefix": {"client_msg_id": "slack-"}}})
    team_msgs = requests.get(f"{engine_url}/{index_prefix}-messages-*/_search", timeout=30, json={
        "size": 0, "query": {"term": {"client_msg_id": "slack-C1-" + str(slack_export.T0 + 120) + "_000000"}}})
    assert r.status_code == 200
    assert team_msgs.json()["hits"]["total"]["value"] == 1


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such file"),
    ("notzip", "not a zip file"),
    ("nousers", "users.json is missing"),
    ("badjson", "not valid JSON"),
    ("unknownuser", "not in users.json: U9"),
    ("badts", "no valid ts"),
])
def test_a_broken_archive_is_a_clear_error_and_nothing_is_written(tmp_path, engine_url, index_prefix, api,
                                                                  case, expect):
    path = str(tmp_path / "export.zip")
    day0 = f"general/{slack_export.day(0)}.json"
    if case == "notzip":
        open(path, "w").write("hello")
    elif case == "nousers":
        slack_export.write(path, drop=("users.json",))
    elif case == "badjson":
        slack_export.write(path, replace={day0: "[{not json"})
    elif case == "unknownuser":
        slack_export.write(path, extra={f"general/{slack_export.day(3)}.json": [
            {"type": "message", "user": "U9", "text": "who am I", "ts": "1780300000.000100"}]})
    elif case == "badts":
        slack_export.write(path, extra={f"general/{slack_export.day(3)}.json": [
            {"type": "message", "user": "U1", "text": "when", "ts": "yesterday"}]})
    team = unique("broken")
    result = run_import(engine_url, index_prefix, path, "--team", team)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "import: error:" in result.stderr and expect in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    # Nothing half-written: the team name is still free.
    r = api.post("/api/teams", json={"name": team, "username": "x", "display_name": "X", "password": "password123"})
    assert r.status_code == 201, r.text


def test_unknown_users_can_be_skipped_and_are_counted(tmp_path, engine_url, index_prefix, api, imported):
    """Also the same export in a second team: its messages' ids are the first team's, so they
    move to other ids, and the replies follow their root."""
    path = slack_export.write(str(tmp_path / "export.zip"), extra={f"general/{slack_export.day(3)}.json": [
        {"type": "message", "user": "U9", "text": "who am I", "ts": "1780300000.000100"}]})
    team = unique("skip")
    result = run_import(engine_url, index_prefix, path, "--team", team, "--skip-unknown-users")
    assert result.returncode == 0, result.stderr
    assert "sent by a user not in users.json: 1" in result.stdout
    assert f"messages: {slack_export.EXPECTED_MESSAGES} imported" in result.stdout
    other = dict(imported, team=team, code=invite_code(result.stdout))
    alice = api.as_user(login_or_signup(api, other, "alice")["token"])
    general = next(c for c in alice.get("/api/chats").json()["chats"] if c["title"] == "general")
    root = alice.get(f"/api/chats/{general['id']}/messages?limit=200").json()["messages"][0]
    assert root["reply_count"] == 3
    replies = alice.get(f"/api/messages/{root['id']}/thread").json()["replies"]
    assert [r["body"] for r in replies] == ["on it", "plan looks good to me", "thanks both"]


def test_a_killed_import_leaves_no_index_without_refresh(engine_url, index_prefix):
    """An import paused the periodic refresh of past months and died: the next bootstrap
    (server start, import start) gives them the template's interval back."""
    engine = Engine(engine_url, index_prefix)
    paused = import_store.pause_refresh(engine, ["2024.02", "2024.03"])
    assert paused == [engine.messages_index("2024.02"), engine.messages_index("2024.03")]

    def intervals():
        r = requests.get(f"{engine_url}/{','.join(paused)}/_settings/index.refresh_interval", timeout=30)
        return {name: entry["settings"]["index"].get("refresh_interval") for name, entry in r.json().items()}
    assert intervals() == {name: "-1" for name in paused}
    bootstrap(engine)
    assert intervals() == {name: "1s" for name in paused}


def test_plain_text_and_mapping_rules():
    names = {"U1": "alice", "U2": "bob"}
    assert plain_text("<@U1> see <https://x.io/a?b=1&amp;c=2|docs>, <https://y.io>, <#C9|ops>, <!here> "
                      "<mailto:a@b.c|a@b.c> 1 &lt; 2 &amp;&amp; <@U7|ghost>", names, {}) == \
        "@alice see docs (https://x.io/a?b=1&c=2), https://y.io, #ops, @here a@b.c 1 < 2 && @ghost"
    mapped = map_message({"type": "message", "user": "U1", "text": "", "ts": "1780000000.000001",
                          "attachments": [{"fallback": "CI failed"}, {"from_url": "https://x", "text": "preview"}]},
                         0, "C1", names, {}, {})
    assert mapped.body == "[attachment: CI failed]"
    assert "link previews (dropped; the link is in the text)" in mapped.features
    assert map_message({"type": "message", "user": "U1", "text": "  ", "ts": "1"}, 0, "C1", names, {}, {}) \
        == "empty (no text, files or attachments)"
    assert map_message({"type": "message", "subtype": "channel_leave", "user": "U2", "ts": "1"},
                       0, "C1", names, {}, {}) == ("leave", "U2")
    long = map_message({"type": "message", "user": "U1", "text": "x" * 500, "ts": "1"}, 0, "C1", names, {}, {},
                       max_body=100)
    assert len(long.body) <= 100 and long.body.endswith("[… truncated]")
    assert "long messages (truncated to 100 characters)" in long.features


@pytest.mark.parametrize("name, expect", [
    ("tada", "\U0001F389"), ("+1", "\U0001F44D"), ("thumbsup", "\U0001F44D"), ("heart", "\u2764\ufe0f"),
    ("joy", "\U0001F602"), ("eyes", "\U0001F440"),
    ("+1::skin-tone-2", "\U0001F44D\U0001F3FB"), ("thumbsup::skin-tone-6", "\U0001F44D\U0001F3FF"),
    ("v::skin-tone-3", "\u270C\U0001F3FC"),                           # the variation selector gives way
    ("man-technologist::skin-tone-4", "\U0001F468\U0001F3FD\u200d\U0001F4BB"),   # ZWJ: after the first
    ("partyparrot", None), ("simple_smile", None),
])
def test_slack_reaction_names_as_unicode_emoji(name, expect):
    assert unicode_emoji(name) == expect


@pytest.mark.parametrize("text, expected", [
    ("quiet :sleeping:", "quiet \U0001F634"),
    (":tada::tada: shipped", "\U0001F389\U0001F389 shipped"),
    ("thanks :+1::skin-tone-3:", "thanks \U0001F44D\U0001F3FC"),
    (":partyparrot: stays", ":partyparrot: stays"),          # a custom emoji
    ("at 12:30:45", "at 12:30:45"),
    ("https://x.example/a:b:c", "https://x.example/a:b:c"),   # not inside a URL or a word
    ("std::vector::push_back", "std::vector::push_back"),
])
def test_emoji_shortcodes_in_text_become_emoji(text, expected):
    assert plain_text(text, {}, {}) == expected
