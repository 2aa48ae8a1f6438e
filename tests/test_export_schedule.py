"""Scheduled incremental exports (issue 17): the admin endpoint's permissions and checks, a
due export that runs once however many callers race for it, and the server running it in
the background."""
import json
import os
import threading
import uuid

import pytest

from chatsvc.export import scheduled
from chatsvc.store import Engine
from chatsvc.store import exports as export_store
from chatsvc.store.indices import bootstrap
from tests.conftest import ServerProcess, drop_prefix
from tests.helpers import Api, forbidden, local_team, make_team, ok, send, wait_until

GOOD = {"every_hours": 24, "format": "jsonl", "destination": "/tmp/chatsvc-schedule-test", "enabled": False}


def test_only_an_admin_sees_or_sets_the_schedule(api):
    team, people = make_team(api, "ann", "bob")   # ann made the team: its admin
    ann, bob = people["ann"]["api"], people["bob"]["api"]
    forbidden(bob.put("/api/admin/export-schedule", json=GOOD))
    forbidden(bob.get("/api/admin/export-schedule"))
    assert api.put("/api/admin/export-schedule", json=GOOD).status_code == 401
    before = ok(ann.get("/api/admin/export-schedule"))
    assert before["enabled"] is False and before["every_hours"] is None and before["next_due_at"] is None
    got = ok(ann.put("/api/admin/export-schedule", json=GOOD))
    assert {k: got[k] for k in GOOD} == GOOD
    assert got["updated_by"] == people["ann"]["user"]["id"] and got["next_due_at"] is None
    assert ok(ann.get("/api/admin/export-schedule")) == got
    enabled = ok(ann.put("/api/admin/export-schedule", json=dict(GOOD, enabled=True, format="actiance")))
    assert enabled["format"] == "actiance" and enabled["next_due_at"]     # never ran: due at once
    # another team's admin sees her own team's (unset) schedule, not this one
    _, others = make_team(api, "olga")
    assert ok(others["olga"]["api"].get("/api/admin/export-schedule"))["format"] is None
    ok(ann.put("/api/admin/export-schedule", json=GOOD))   # off again: the session server must not run it


@pytest.mark.parametrize("change", [
    {"every_hours": 0}, {"every_hours": 8761}, {"every_hours": "24"}, {"every_hours": 1.5},
    {"format": "pdf"}, {"destination": "relative/folder"}, {"destination": ""},
    {"enabled": "yes"}, {"enabled": None}, {"surprise": 1},
])
def test_bad_schedule_values_are_refused(api, change):
    _, people = make_team(api, "ann")
    r = people["ann"]["api"].put("/api/admin/export-schedule", json=dict(GOOD, **change))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_request"
    body = dict(GOOD)
    del body["format"]
    assert people["ann"]["api"].put("/api/admin/export-schedule", json=body).status_code == 400
    assert people["ann"]["api"].put("/api/admin/export-schedule", data="nope",
                                    headers={"Content-Type": "application/json"}).status_code == 400


@pytest.fixture
def schedule_engine(engine_url):
    prefix = f"test-sched-{uuid.uuid4().hex[:8]}"   # no server watches this prefix
    engine = Engine(engine_url, prefix)
    bootstrap(engine)
    yield engine, prefix
    drop_prefix(engine_url, prefix)


def test_a_due_export_runs_once_when_two_callers_race(schedule_engine, engine_url, tmp_path):
    engine, prefix = schedule_engine
    from chatsvc.config import Config
    from chatsvc.chat.context import ChatContext
    from tests.helpers import RecordingPublisher
    ctx = ChatContext(Config(search_url=engine_url, index_prefix=prefix, secret="test-secret-for-this-session"),
                      engine, RecordingPublisher())
    team, people = local_team(ctx, "ann", "bob")
    from chatsvc.chat import export_schedule
    dest = tmp_path / "exports"
    export_schedule.set_schedule(ctx, people["ann"], 6, "jsonl", str(dest), True)
    with pytest.raises(Exception) as denied:
        export_schedule.set_schedule(ctx, people["bob"], 6, "jsonl", str(dest), True)
    assert denied.value.status == 403
    key = str(tmp_path / "key.pem")

    barrier = threading.Barrier(2)
    results = [None, None]

    def caller(i):
        barrier.wait()
        results[i] = scheduled.run_due(engine, key_file=key)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = [r["status"] for rs in results for r in rs]
    assert statuses.count("ok") == 1, results
    assert set(statuses) <= {"ok", "busy", "not due"}, results
    folders = os.listdir(dest)
    assert len(folders) == 1
    first = json.loads((dest / folders[0] / "manifest.json").read_text())
    assert first["team"]["id"] == team["id"] and first["filters"]["since"] is None
    schedule, _ = export_store.get_schedule(engine, team["id"])
    assert schedule["runs"] == 1 and schedule["last_status"] == "ok"
    assert schedule["last_snapshot_time"] == first["snapshot"]["time"]
    assert scheduled.run_due(engine, key_file=key) == []          # not due again for 6 hours
    lease, _ = export_store._get(engine, f"lease:schedule-{team['id']}")
    assert lease is None                                             # given back

    # six hours later (the last run moved back): the next one takes what came since
    current, version = export_store.get_schedule(engine, team["id"])
    export_store.put_schedule(engine, team["id"], dict(current, last_run_at="2000-01-01T00:00:00.000Z"), version)
    [result] = scheduled.run_due(engine, key_file=key)
    assert result["status"] == "ok" and result["since"] == first["snapshot"]["time"]
    second = json.loads((open(os.path.join(result["out"], "manifest.json"))).read())
    assert second["filters"]["since"] == first["snapshot"]["time"]
    assert second["chain"]["sequence"] == 2

    # a lease someone else holds (and has not let expire) keeps the run away
    current, version = export_store.get_schedule(engine, team["id"])
    export_store.put_schedule(engine, team["id"], dict(current, last_run_at="2000-01-01T00:00:00.000Z"), version)
    held = export_store.take_lease(engine, f"schedule-{team['id']}", "another-process",
                                   "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z")
    assert held is not None
    assert [r["status"] for r in scheduled.run_due(engine, key_file=key)] == ["busy"]
    export_store.release_lease(engine, f"schedule-{team['id']}", held)
    # an expired lease is taken over
    export_store.take_lease(engine, f"schedule-{team['id']}", "a-dead-process",
                            "2000-01-01T00:00:00.000Z", "2000-01-01T01:00:00.000Z")
    assert [r["status"] for r in scheduled.run_due(engine, key_file=key)] == ["ok"]


def test_the_server_runs_a_due_export_in_the_background(engine_url, tmp_path):
    prefix = f"test-sched-srv-{uuid.uuid4().hex[:8]}"
    srv = ServerProcess(engine_url, prefix, export_scheduler_seconds=1,
                        export_key=str(tmp_path / "key.pem")).start()
    try:
        api = Api(srv.url)
        team, people = make_team(api, "ann", "bob")
        chat = ok(people["ann"]["api"].post("/api/chats", json={"member_ids": [people["bob"]["user"]["id"]]}), 201)
        send(people["ann"], chat["id"], "scheduled hello")
        dest = tmp_path / "scheduled"
        ok(people["ann"]["api"].put("/api/admin/export-schedule", json={
            "every_hours": 24, "format": "globalrelay", "destination": str(dest), "enabled": True}))

        def ran():
            s = ok(people["ann"]["api"].get("/api/admin/export-schedule"))
            return s if s["last_status"] else None

        s = wait_until(ran, 90, "the scheduled export to run")
        assert s["last_status"] == "ok", s
        assert s["runs"] == 1 and s["next_due_at"] > s["last_run_at"]
        [folder] = os.listdir(dest)
        manifest = json.loads((dest / folder / "manifest.json").read_text())
        assert manifest["format"] == "globalrelay" and manifest["totals"]["messages"] == 1
    finally:
        srv.stop()
        drop_prefix(engine_url, prefix)
