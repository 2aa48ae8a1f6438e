"""CI runs the README's first step: scripts/demo end to end against a fresh index prefix,
then a real server started afterwards serves the team it built."""
import json
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime, timezone

import pytest
import requests

from tests.conftest import ROOT, ServerProcess
from tests.helpers import Api

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import demo_export  # noqa: E402


@pytest.fixture(scope="module")
def demo(engine_url, tmp_path_factory):
    prefix = f"test-demo-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix)
    runs = [subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo")], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=600) for _ in range(2)]
    server = ServerProcess(engine_url, prefix).start()
    path = str(tmp_path_factory.mktemp("demo") / "export.zip")
    demo_export.write(path, datetime.now(timezone.utc))
    with zipfile.ZipFile(path) as z:
        export = {n: json.loads(z.read(n)) for n in z.namelist()}
    try:
        yield {"runs": runs, "api": Api(server.url), "export": export, "engine": engine_url, "prefix": prefix}
    finally:
        server.stop()
        requests.delete(f"{engine_url}/{prefix}-*", params={"expand_wildcards": "all"}, timeout=60)
        requests.delete(f"{engine_url}/_index_template/{prefix}-*", timeout=60)


def login(demo, username):
    r = demo["api"].post("/api/auth/login", json={"team": "demo", "username": username, "password": "demo-password"})
    assert r.status_code == 200, r.text
    return demo["api"].as_user(r.json()["token"])


def test_the_demo_runs_and_a_second_run_leaves_the_team_alone(demo):
    first, second = demo["runs"]
    assert first.returncode == 0, first.stderr
    assert "demo: team 'demo' created with" in first.stdout
    assert "Traceback" not in first.stderr
    assert second.returncode == 0, second.stderr
    assert "already exists; leaving it as it is" in second.stdout
    assert "password 'demo-password'" in second.stdout


def test_the_demo_team_its_chats_and_all_its_messages(demo):
    messages = [m for name, msgs in demo["export"].items() if "/" in name for m in msgs
                if m.get("subtype") not in ("channel_join", "channel_leave")]
    assert 1500 <= len(messages) <= 4000
    r = requests.get(f"{demo['engine']}/{demo['prefix']}-messages-*/_count", timeout=30)
    assert r.json()["count"] == len(messages)
    alice = login(demo, "alice")
    titles = sorted(str(c["title"]) for c in alice.get("/api/chats").json()["chats"])
    assert titles == ["None", "None", "incidents", "lunch", "platform", "release-v2-3"]
    for username in ("bob", "carol", "dave", "erin", "frank"):
        login(demo, username)
    frank = login(demo, "frank")   # left the release channel
    assert "release-v2-3" not in [c["title"] for c in frank.get("/api/chats").json()["chats"]]
    bob = login(demo, "bob")
    platform = next(c for c in bob.get("/api/chats").json()["chats"] if c["title"] == "platform")
    page = bob.get(f"/api/chats/{platform['id']}/messages?limit=200").json()["messages"]
    gone = [m for m in page if m["deleted"]]                           # deleted for everyone
    assert len(gone) == 1 and gone[0]["body"] == ""
    assert platform["reads"]                                            # read markers
    assert any(m["liked_by"] for m in page)                             # likes


def test_the_demo_has_threads_reactions_and_edits(demo):
    alice = login(demo, "alice")
    chats = {c["title"]: c for c in alice.get("/api/chats").json()["chats"]}
    incidents = alice.get(f"/api/chats/{chats['incidents']['id']}/messages?limit=200").json()["messages"]
    root = next(m for m in incidents if "Starting an incident" in m["body"])
    assert root["reply_count"] >= 5 and len(root["reply_user_ids"]) >= 3
    assert {r["emoji"] for r in root["reactions"]} == {"\U0001F440"}          # :eyes:
    thread = alice.get(f"/api/messages/{root['id']}/thread?limit=200").json()
    replies = thread["replies"]
    assert len(replies) == root["reply_count"]
    assert [r["created_at"] for r in replies] == sorted(r["created_at"] for r in replies)
    assert replies[-1]["created_at"] == root["last_reply_at"]
    broadcast = [r for r in replies if r["also_in_chat"]]
    assert broadcast and {r["id"] for r in broadcast} <= {m["id"] for m in incidents}
    assert not {r["id"] for r in replies if not r["also_in_chat"]} & {m["id"] for m in incidents}
    assert any(r["edited_at"] for r in replies)
    release = alice.get(f"/api/chats/{chats['release-v2-3']['id']}/messages?limit=200").json()["messages"]
    launch = next(m for m in release if m["body"].startswith("v2.3.0 is live"))
    assert launch["reply_count"] >= 3
    assert "\U0001F389" in [r["emoji"] for r in launch["reactions"]]              # :tada:
    emoji = {r["emoji"] for m in release for r in m["reactions"]}
    assert {"\u2764\ufe0f", "\U0001F44D\U0001F3FD"} <= emoji                    # :heart:, a skin-tone 👍
    assert any(m["edited_at"] for m in release)
    assert not any("[reactions:" in m["body"] or "[reply in" in m["body"] for m in incidents + release)


def test_date_filtered_search_finds_the_incident_on_its_day(demo):
    start = next(m for name, msgs in demo["export"].items() if name.startswith("incidents/") for m in msgs
                 if "Starting an incident" in m["text"])
    day = datetime.fromtimestamp(float(start["ts"]), tz=timezone.utc).strftime("%Y-%m-%d")
    carol = login(demo, "carol")
    hits = carol.get("/api/search", params={"q": f"incident on:{day}"}).json()["hits"]
    assert any("Starting an incident" in h["message"]["body"] for h in hits)
    assert all(h["message"]["created_at"].startswith(day) for h in hits)
    assert carol.get("/api/search", params={"q": f'"Starting an incident" before:{day}'}).json()["hits"] == []
    hits = carol.get("/api/search", params={"q": "聚餐"}).json()["hits"]     # the Chinese thread
    assert hits
