"""Slack import: scripts/import slack against a small export (tests/slack_export.py), then
what a user sees through a real server."""
import os
import re
import subprocess
import time

import pytest
import requests

from chatsvc.chat.slack_import import map_message, plain_text
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
    for feature in ("likes (+1 reactions): 2", "other reactions (as text): 1", "thread replies", "edits",
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
    assert len(msgs) == 8
    first = msgs[0]
    assert first["created_at"] == iso(slack_export.T0 + 60)
    assert first["body"].startswith("Morning @bob! See the plan (https://example.com/plan) & #general")
    assert "[reactions: :tada: @carol]" in first["body"]
    assert sorted(first["liked_by"]) == sorted([users["bob"], users["carol"]])
    bodies = [m["body"] for m in msgs]
    assert any(b.startswith("on it\n[reply in thread to @alice: “Morning @bob!") for b in bodies)
    assert "[file: notes.pdf (https://files.slack.com/F1/notes.pdf)]" in bodies
    assert any(b.startswith("deployed the kangaroo release\n[edited ") for b in bodies)
    assert msgs[-1]["created_at"] == iso(slack_export.T0 + 2 * 86400 + 2)


def test_former_members_do_not_see_the_channel_and_date_search_uses_the_original_times(api, imported):
    erin = api.as_user(signup(api, imported, "erin.novak").json()["token"])   # posted, never a member
    titles = [c["title"] for c in erin.get("/api/chats").json()["chats"]]
    assert "general" not in titles
    bob = api.as_user(signup(api, imported, "bob").json()["token"])
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


def test_unknown_users_can_be_skipped_and_are_counted(tmp_path, engine_url, index_prefix):
    path = slack_export.write(str(tmp_path / "export.zip"), extra={f"general/{slack_export.day(3)}.json": [
        {"type": "message", "user": "U9", "text": "who am I", "ts": "1780300000.000100"}]})
    result = run_import(engine_url, index_prefix, path, "--team", unique("skip"), "--skip-unknown-users")
    assert result.returncode == 0, result.stderr
    assert "sent by a user not in users.json: 1" in result.stdout
    assert f"messages: {slack_export.EXPECTED_MESSAGES} imported" in result.stdout


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
