"""Issue 17 over REST against the real server: roles, retention policies, legal holds,
the audit log; who may call each admin endpoint (403/404 matrix); bad input; a retention
run in the server and from the command line, on a Slack import's backdated history."""
import json
import os
import subprocess
import uuid

import pytest

from tests import slack_export
from tests.conftest import ROOT, ServerProcess
from tests.helpers import (Api, assert_error, bad_request, create_chat, forbidden, history, make_team,
                           not_found, ok, send, unique, wait_until)

FLASK = os.path.join(ROOT, ".venv", "bin", "flask")


def cli(engine_url, prefix, *args):
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=prefix)
    return subprocess.run([FLASK, "--app", "wsgi", "chatsvc", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def cli_ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def org(server):
    """Team A: ann (admin), olive (made compliance officer), max (member), a chat; team B:
    zed (admin) and his chat."""
    api = Api(server.url)
    team, people = make_team(api, "ann", "olive", "max")
    ann, olive, mx = people["ann"], people["olive"], people["max"]
    r = ok(ann["api"].put(f"/api/admin/users/{olive['user']['id']}/roles", json={"compliance": True}))
    assert r["roles"] == ["compliance"]
    chat = create_chat(ann, olive, mx, title="ops")
    other, others = make_team(api, "zed", "yan")
    zed_chat = create_chat(others["zed"], others["yan"])
    return {"team": team, "ann": ann, "olive": olive, "max": mx, "chat": chat["id"], "other": other,
            "zed": others["zed"], "yan": others["yan"], "zed_chat": zed_chat["id"], "api": api}


def test_me_shows_roles(org):
    assert ok(org["ann"]["api"].get("/api/me"))["roles"] == ["admin"]
    assert ok(org["olive"]["api"].get("/api/me"))["roles"] == ["compliance"]
    assert ok(org["max"]["api"].get("/api/me"))["roles"] == []


def test_roles_grant_revoke_and_the_last_admin(server):
    api = Api(server.url)
    team, p = make_team(api, "amy", "ben")
    amy, ben = p["amy"], p["ben"]
    me_id = amy["user"]["id"]
    err = assert_error(amy["api"].put(f"/api/admin/users/{me_id}/roles", json={"admin": False}), 409, "conflict")
    assert "admin" in err["message"]
    forbidden(ben["api"].put(f"/api/admin/users/{ben['user']['id']}/roles", json={"admin": True}))
    assert ok(amy["api"].put(f"/api/admin/users/{ben['user']['id']}/roles", json={"admin": True}))["roles"] == ["admin"]
    # ben, now admin, can do admin things at once; amy may now step down
    ok(ben["api"].get("/api/admin/retention"))
    assert ok(amy["api"].put(f"/api/admin/users/{me_id}/roles", json={"admin": False, "compliance": True}))["roles"] \
        == ["compliance"]
    forbidden(amy["api"].put("/api/admin/retention", json={"days": 10}))
    assert_error(ben["api"].put(f"/api/admin/users/{ben['user']['id']}/roles", json={"admin": False}), 409, "conflict")
    for body in ({"admin": "yes"}, {"admin": 1}, {"compliance": None}, {"boss": True}):
        bad_request(ben["api"].put(f"/api/admin/users/{me_id}/roles", json=body))
    not_found(ben["api"].put("/api/admin/users/not-an-id/roles", json={"admin": True}))
    not_found(ben["api"].put("/api/admin/users/123456789/roles", json={"admin": True}))
    # roles survive a reload of the team from the engine (another process life)
    restarted = ServerProcess(server.env["CHATSVC_SEARCH_URL"], server.env["CHATSVC_INDEX_PREFIX"]).start()
    try:
        again = Api(restarted.url)
        r = ok(again.post("/api/auth/login", json={"team": team["name"], "username": "amy", "password": "password123"}))
        assert ok(again.as_user(r["token"]).get("/api/me"))["roles"] == ["compliance"]
    finally:
        restarted.stop()


def _matrix(org):
    hold = ok(org["ann"]["api"].post("/api/admin/holds", json={
        "name": unique("m"), "reason": "matrix", "chat_ids": [org["chat"]]}), 201)
    max_id = org["max"]["user"]["id"]
    chat = org["chat"]
    # (method, path, body, ok status for admin, may a compliance officer?)
    return [
        ("PUT", f"/api/admin/users/{max_id}/roles", {"compliance": False}, 200, False, True),
        ("GET", "/api/admin/retention", None, 200, True, False),
        ("PUT", "/api/admin/retention", {"days": None}, 200, False, False),
        ("PUT", f"/api/admin/chats/{chat}/retention", {"days": None}, 200, False, True),
        ("DELETE", f"/api/admin/chats/{chat}/retention", None, 200, False, True),
        ("POST", "/api/admin/retention/run", {"dry_run": True}, 200, False, False),
        ("POST", "/api/admin/holds", {"name": None, "reason": "r", "chat_ids": [chat]}, 201, True, False),
        ("GET", "/api/admin/holds", None, 200, True, False),
        ("DELETE", f"/api/admin/holds/{hold['id']}", None, 200, True, True),
        ("GET", "/api/admin/audit", None, 200, True, False),
    ]


def test_who_may_call_each_admin_endpoint(org):
    """admin: ok; compliance officer: ok where allowed, else 403; member: 403; another
    team's admin: 404 for this team's ids (else her own team's answer); nobody: 401."""
    for method, path, body, status, officer_ok, team_scoped in _matrix(org):
        def call(who):
            payload = dict(body, name=unique("h")) if body and "name" in body else body
            return who["api"].call(method, path, **({"json": payload} if payload is not None else {}))
        forbidden(call(org["max"]))
        r = call(org["olive"])
        if officer_ok:
            assert r.status_code == status, (method, path, r.text)
        else:
            forbidden(r)
        r = call(org["zed"])
        if team_scoped:
            not_found(r)
        elif path == "/api/admin/holds" and method == "POST":
            bad_request(r, "chat_ids")   # the chat is not of his team
        else:
            assert r.status_code == status, (method, path, r.text)
        forbidden(call(org["yan"]))
        assert_error(org["api"].call(method, path, **({"json": body} if body else {})), 401, "unauthorized")
        assert call(org["ann"]).status_code == status, (method, path)


def test_bad_policy_and_hold_values(org):
    ann = org["ann"]["api"]
    for days in (-1, 0, 36501, 10 ** 12, "5", 5.5, True, [], {}):
        bad_request(ann.put("/api/admin/retention", json={"days": days}), "days")
        bad_request(ann.put(f"/api/admin/chats/{org['chat']}/retention", json={"days": days}), "days")
    bad_request(ann.put("/api/admin/retention", json={}), "days")
    bad_request(ann.put("/api/admin/retention", data="nope", headers={"Content-Type": "application/json"}))
    not_found(ann.put("/api/admin/chats/123456789/retention", json={"days": 5}))
    not_found(ann.put(f"/api/admin/chats/{org['zed_chat']}/retention", json={"days": 5}))
    not_found(ann.put("/api/admin/chats/abc/retention", json={"days": 5}))
    good = {"name": unique("h"), "reason": "why", "chat_ids": [org["chat"]]}
    bad_request(ann.post("/api/admin/holds", json=dict(good, name="x" * 101)), "name")
    bad_request(ann.post("/api/admin/holds", json=dict(good, name="")), "name")
    bad_request(ann.post("/api/admin/holds", json={"name": unique("h"), "chat_ids": [org["chat"]]}), "reason")
    bad_request(ann.post("/api/admin/holds", json=dict(good, reason="r" * 2001)), "reason")
    bad_request(ann.post("/api/admin/holds", json=dict(good, user_ids=["abc"])), "user_ids")
    bad_request(ann.post("/api/admin/holds", json=dict(good, user_ids=[org["zed"]["user"]["id"]])), "user_ids")
    bad_request(ann.post("/api/admin/holds", json=dict(good, chat_ids=["123456789"])), "chat_ids")
    bad_request(ann.post("/api/admin/holds", json={"name": unique("h"), "reason": "r"}), "user_ids")
    ok(ann.post("/api/admin/holds", json=good), 201)
    assert_error(ann.post("/api/admin/holds", json=dict(good, name=good["name"].upper())), 409, "conflict")
    not_found(ann.delete("/api/admin/holds/123456789"))
    not_found(ann.delete("/api/admin/holds/abc"))
    bad_request(ann.get("/api/admin/audit", params={"limit": 0}), "limit")
    bad_request(ann.get("/api/admin/audit", params={"limit": 501}), "limit")
    bad_request(ann.get("/api/admin/audit", params={"before": "nope"}), "before")


def test_policies_are_listed(org):
    ann = org["ann"]["api"]
    ok(ann.put("/api/admin/retention", json={"days": 400}))
    got = ok(ann.put(f"/api/admin/chats/{org['chat']}/retention", json={"days": None}))
    assert got["team"]["days"] == 400 and got["team"]["updated_by"] == org["ann"]["user"]["id"]
    assert [(c["chat_id"], c["days"]) for c in got["chats"]] == [(org["chat"], None)]
    assert ok(org["olive"]["api"].get("/api/admin/retention")) == got
    assert ok(ann.delete(f"/api/admin/chats/{org['chat']}/retention"))["chats"] == []
    assert ok(ann.put("/api/admin/retention", json={"days": None}))["team"]["days"] is None
    assert ok(org["zed"]["api"].get("/api/admin/retention"))["team"]["days"] is None   # his own team


def test_the_audit_log_records_each_action_and_nothing_edits_it(org, server):
    api = Api(server.url)
    team, p = make_team(api, "ada", "bo")
    ada, bo = p["ada"], p["bo"]
    chat = create_chat(ada, bo)["id"]
    ok(ada["api"].put(f"/api/admin/users/{bo['user']['id']}/roles", json={"compliance": True}))
    ok(ada["api"].put("/api/admin/retention", json={"days": 90}))
    ok(ada["api"].put(f"/api/admin/chats/{chat}/retention", json={"days": 7}))
    hold = ok(bo["api"].post("/api/admin/holds", json={"name": "Case 1", "reason": "subpoena",
                                                      "user_ids": [ada["user"]["id"]]}), 201)
    ok(bo["api"].delete(f"/api/admin/holds/{hold['id']}"))
    m = send(ada, chat, "to be deleted")
    assert ada["api"].delete(f"/api/messages/{m['id']}", params={"for": "everyone"}).status_code == 204
    ok(ada["api"].post("/api/admin/retention/run", json={"dry_run": True}))
    ok(api.post("/api/auth/login", json={"team": team["name"], "username": "ada", "password": "password123"}))
    entries = ok(bo["api"].get("/api/admin/audit", params={"limit": 500}))["entries"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["role.change", "retention.set", "retention.set", "hold.create", "hold.release",
                       "message.delete_for_everyone", "retention.run", "login"], actions
    by = {e["action"]: e for e in entries}
    assert by["role.change"]["details"] == {"before": {"admin": False, "compliance": False},
                                            "after": {"admin": False, "compliance": True}}
    assert by["role.change"]["actor_username"] == "ada"
    assert by["hold.create"]["details"]["reason"] == "subpoena" and by["hold.create"]["actor_id"] == bo["user"]["id"]
    assert by["message.delete_for_everyone"]["target"] == {"message_id": m["id"], "chat_id": chat}
    assert by["retention.run"]["details"]["dry_run"] is True
    # pages, newest first
    first = ok(ada["api"].get("/api/admin/audit", params={"limit": 3}))
    rest = ok(ada["api"].get("/api/admin/audit", params={"limit": 10, "before": first["next_before"]}))
    assert [e["id"] for e in first["entries"] + rest["entries"]] == [e["id"] for e in entries]
    assert rest["next_before"] is None
    # another team sees none of it
    assert all(e["id"] not in {x["id"] for x in entries}
               for e in ok(org["zed"]["api"].get("/api/admin/audit", params={"limit": 500}))["entries"])
    # no way to change it through the app
    entry = entries[0]["id"]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = ada["api"].call(method, "/api/admin/audit", json={"entries": []})
        assert r.status_code == 405, (method, r.status_code)
        r = ada["api"].call(method, f"/api/admin/audit/{entry}", json={"action": "nothing"})
        assert r.status_code in (404, 405), (method, r.status_code)
    assert ok(bo["api"].get("/api/admin/audit", params={"limit": 500}))["entries"] == entries
    # exportable as JSON Lines, oldest first
    out = os.path.join(ROOT, "var", f"audit-{uuid.uuid4().hex[:6]}.jsonl")
    try:
        cli_ok(cli(server.env["CHATSVC_SEARCH_URL"], server.env["CHATSVC_INDEX_PREFIX"],
                   "audit", "export", "--team", team["name"], "--out", out))
        with open(out, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        assert [x["id"] for x in lines] == [e["id"] for e in reversed(entries)]
        assert {x["team_id"] for x in lines} == {team["id"]}
    finally:
        if os.path.exists(out):
            os.remove(out)
    # the audit export itself is recorded
    assert ok(ada["api"].get("/api/admin/audit", params={"limit": 1}))["entries"][0]["action"] == "audit.export"


# ------------------------------------------------------------------------------ retention on a Slack import

@pytest.fixture
def imported(tmp_path, engine_url, index_prefix, server):
    """A Slack export's team (messages from 2026-05-28 on, months old), claimed by alice
    (its admin) and bob through the server."""
    path = slack_export.write(str(tmp_path / "slack.zip"))
    name = unique("slack")
    env = dict(os.environ, CHATSVC_SEARCH_URL=engine_url, CHATSVC_INDEX_PREFIX=index_prefix)
    result = subprocess.run([os.path.join(ROOT, "scripts", "import"), "slack", path, "--team", name],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    import re
    code = re.search(r"invite code: (\S+)", result.stdout).group(1)
    api = Api(server.url)
    people = {}
    for username in ("alice", "bob"):
        s = ok(api.post("/api/auth/signup", json={"team": name, "invite_code": code, "username": username,
                                                  "display_name": username.title(), "password": "password123"}), 201)
        people[username] = {"user": s["user"], "token": s["token"], "api": api.as_user(s["token"])}
    chats = {c["title"] or c["kind"]: c["id"] for c in ok(people["alice"]["api"].get("/api/chats"))["chats"]}
    return {"team": name, "people": people, "chats": chats}


def test_server_run_with_a_hold_then_release(imported):
    alice = imported["people"]["alice"]
    a = alice["api"]
    general, secret = imported["chats"]["general"], imported["chats"]["secret"]
    assert ok(a.get("/api/me"))["roles"] == ["admin"]
    before = history(alice, general, limit=200)["messages"]
    assert len(before) >= 5                        # the tail holds the old messages
    ok(a.put("/api/admin/retention", json={"days": 30}))
    ok(a.put(f"/api/admin/chats/{secret}/retention", json={"days": None}))   # secret: forever
    hold = ok(a.post("/api/admin/holds", json={"name": "lit", "reason": "r", "user_ids": [alice["user"]["id"]]}), 201)
    dry = ok(a.post("/api/admin/retention/run", json={"dry_run": True}))
    assert secret not in dry["chats"] and dry["total"] > 0
    assert history(alice, general, limit=200)["messages"] == before          # a dry run deletes nothing
    done = ok(a.post("/api/admin/retention/run", json={}))
    assert done["chats"] == dry["chats"] and done["total"] == dry["total"]
    left = history(alice, general, limit=200)["messages"]
    assert left and {m["sender_id"] for m in left} == {alice["user"]["id"]}   # held: alice's own
    assert len(history(alice, secret)["messages"]) == 1
    ok(a.delete(f"/api/admin/holds/{hold['id']}"))
    again = ok(a.post("/api/admin/retention/run", json={}))
    assert again["chats"].get(general, 0) >= len(left)
    assert history(alice, general, limit=200)["messages"] == []
    listed = {c["id"]: c for c in ok(a.get("/api/chats"))["chats"]}
    assert listed[general]["last_message"] is None
    new = send(alice, general, "after retention")
    assert [m["id"] for m in history(alice, general)["messages"]] == [new["id"]]


def test_cli_run_and_a_running_servers_tails(imported, engine_url, index_prefix):
    """From the command line: dry run, then a run; a server polling the run record drops
    the deleted messages from its tails."""
    srv = ServerProcess(engine_url, index_prefix, retention_poll=0.5).start()
    try:
        api = Api(srv.url)
        r = ok(api.post("/api/auth/login", json={"team": imported["team"], "username": "alice", "password": "password123"}))
        alice = {"user": r["user"], "token": r["token"], "api": api.as_user(r["token"])}
        general = imported["chats"]["general"]
        assert history(alice, general, limit=200)["messages"]
        ok(alice["api"].put("/api/admin/retention", json={"days": 30}))
        dry = cli_ok(cli(engine_url, index_prefix, "retention", "run", "--team", imported["team"], "--dry-run", "--json"))
        report = json.loads(dry.stdout)
        assert report["dry_run"] and report["total"] > 0 and report["teams"][0]["chats"][general] > 0
        assert history(alice, general, limit=200)["messages"]
        cli_ok(cli(engine_url, index_prefix, "retention", "run", "--team", imported["team"]))
        wait_until(lambda: history(alice, general, limit=200)["messages"] == [], 10,
                   "the server to drop deleted messages from its tail")
        assert cli(engine_url, index_prefix, "retention", "run", "--team", unique("none")).returncode == 3
    finally:
        srv.stop()
