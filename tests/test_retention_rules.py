"""Retention, legal holds and the daily schedule (issue 17), in process against the real
engine: backdated messages are written through the store (as an import writes them)."""
import itertools
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from chatsvc.chat import chats, deletion, history, holds, retention
from chatsvc.chat import send as chat_send
from chatsvc.errors import BadRequest, Conflict, Forbidden, NotFound
from chatsvc.export import ExportError, ExportOptions, run_export
from chatsvc.export.filters import Filters
from chatsvc.ids import format_time, id_at, id_time
from chatsvc.store import compliance as compliance_store
from chatsvc.store import messages as message_store
from chatsvc.store.imports import write_ops
from tests.helpers import local_team, unique

DAY_MS = 86400 * 1000
_seq = itertools.count()


def old_messages(ctx, chat, sender, days_ago: float, n: int = 1, body="old") -> list[dict]:
    """``n`` messages of ``chat`` by ``sender`` written ``days_ago`` days ago."""
    base = int((time.time() - days_ago * 86400) * 1000)
    docs = []
    for i in range(n):
        mid = id_at(base + i, 1000, next(_seq) % 4096)
        docs.append({"id": mid, "chat_id": chat["id"], "team_id": chat["team_id"], "sender_id": sender["id"],
                     "body": f"{body} {i}", "created_at": id_time(mid), "client_msg_id": f"old{mid}",
                     "liked_by": [], "like_count": 0, "hidden_for": [], "deleted": False})
    results = write_ops(ctx.engine, [message_store.write_op(ctx.engine, d) for d in docs])
    assert all(status == 201 for status, _ in results), results
    message_store.refresh(ctx.engine)
    return docs


def new_life(make_context):
    """Another process life, after everything written so far is searchable."""
    ctx = make_context()
    ctx.engine.call("indices.refresh", index=ctx.engine.prefix + "-*")
    return ctx


def ids_in(ctx, chat) -> set[int]:
    message_store.refresh(ctx.engine)
    return {m["id"] for m in message_store.page(ctx.engine, chat["id"], limit=1000)}


@pytest.fixture
def team(make_context):
    """A team (ann the admin, bob, cat) with a group chat and a direct chat ann-bob."""
    ctx = make_context()
    t, people = local_team(ctx, "ann", "bob", "cat")
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    group, _ = chats.create_chat(ctx, ann, [bob["id"], cat["id"]], "group")
    direct, _ = chats.create_chat(ctx, ann, [bob["id"]], None)
    state = ctx.teams.get(t["id"])
    return ctx, t, people, state.chats[group["id"]], state.chats[direct["id"]]


def run(ctx, t, **kw):
    return retention.run(ctx.engine, ctx.ids, team_ids=[t["id"]], **kw).teams[0]


def test_team_policy_deletes_only_what_is_older_dry_run_first(team):
    ctx, t, p, group, direct = team
    old = old_messages(ctx, group, p["bob"], 40, 3) + old_messages(ctx, direct, p["ann"], 31, 2)
    young = old_messages(ctx, group, p["cat"], 29, 2)
    retention.set_policy(ctx, p["ann"], 30)
    dry = run(ctx, t, dry_run=True)
    assert dry.chats == {group["id"]: 3, direct["id"]: 2}
    assert ids_in(ctx, group) | ids_in(ctx, direct) >= {d["id"] for d in old + young}   # nothing deleted
    report = run(ctx, t)
    assert report.chats == {group["id"]: 3, direct["id"]: 2} and report.total == 5
    assert ids_in(ctx, group) == {d["id"] for d in young}
    assert ids_in(ctx, direct) == set()
    assert run(ctx, t).total == 0   # idempotent


def test_chat_policy_overrides_team_policy_both_ways(team):
    ctx, t, p, group, direct = team
    g = old_messages(ctx, group, p["bob"], 10, 2)
    d = old_messages(ctx, direct, p["bob"], 100, 2)
    retention.set_policy(ctx, p["ann"], 5)                     # team: 5 days
    retention.set_policy(ctx, p["ann"], None, direct["id"])   # direct: forever
    assert run(ctx, t).chats == {group["id"]: 2}
    assert ids_in(ctx, direct) == {x["id"] for x in d}
    retention.set_policy(ctx, p["ann"], 50, direct["id"])     # direct: 50 days (team still 5)
    assert run(ctx, t, dry_run=True).chats == {direct["id"]: 2}
    retention.clear_chat_policy(ctx, p["ann"], direct["id"])  # back to the team's 5 days
    policies = retention.get_policies(ctx, p["ann"])
    assert policies["team"]["days"] == 5 and policies["chats"] == []
    assert run(ctx, t).chats == {direct["id"]: 2}
    assert g and ids_in(ctx, group) == set()


def test_holds_exempt_messages_until_released_and_overlap(team):
    ctx, t, p, group, direct = team
    by_bob = old_messages(ctx, group, p["bob"], 60, 2)
    by_cat = old_messages(ctx, group, p["cat"], 60, 2)
    in_direct = old_messages(ctx, direct, p["ann"], 60, 2)
    retention.set_policy(ctx, p["ann"], 1)
    on_bob = holds.create_hold(ctx, p["ann"], "case-bob", "litigation", [p["bob"]["id"]], [])
    on_direct = holds.create_hold(ctx, p["ann"], "case-direct", "regulator", [], [direct["id"]])
    also_direct = holds.create_hold(ctx, p["ann"], "case-direct-2", "overlap", [p["ann"]["id"]], [direct["id"]])
    # bob's messages and the direct chat are held; a delete for everyone of a held message keeps it
    deletion.delete_message(ctx, p["bob"], by_bob[0]["id"], "everyone")
    assert run(ctx, t, dry_run=True).chats == {group["id"]: 2}
    assert run(ctx, t).chats == {group["id"]: 2}
    remaining = ids_in(ctx, group)
    assert remaining == {d["id"] for d in by_bob}
    kept = message_store.get_many(ctx.engine, [(by_bob[0]["id"], group["id"])])[by_bob[0]["id"]]
    assert kept["deleted"] and kept["deleted_body"] == by_bob[0]["body"]
    # releasing one of two overlapping holds keeps the chat; releasing both lets retention delete
    holds.release_hold(ctx, p["ann"], on_direct["id"])
    assert run(ctx, t).total == 0
    holds.release_hold(ctx, p["ann"], also_direct["id"])
    assert run(ctx, t).chats == {direct["id"]: 2}
    assert ids_in(ctx, direct) == set() and in_direct
    holds.release_hold(ctx, p["ann"], on_bob["id"])
    assert run(ctx, t).chats == {group["id"]: 2}
    listed = holds.list_holds(ctx, p["ann"])
    assert [h["name"] for h in listed] == ["case-bob", "case-direct", "case-direct-2"]
    assert not any(h["active"] for h in listed) and all(h["released_at"] for h in listed)
    assert by_cat


def test_hold_rules_and_bad_input(team):
    ctx, t, p, group, direct = team
    with pytest.raises(Forbidden):
        holds.create_hold(ctx, p["bob"], "x", "y", [p["bob"]["id"]], [])
    with pytest.raises(BadRequest):
        holds.create_hold(ctx, p["ann"], "x", "y", [], [])
    with pytest.raises(BadRequest):
        holds.create_hold(ctx, p["ann"], "x", "y", ["123456"], [])
    with pytest.raises(BadRequest):
        holds.create_hold(ctx, p["ann"], "x", "y", [], ["123456"])
    holds.create_hold(ctx, p["ann"], "Same", "y", [p["bob"]["id"]], [])
    with pytest.raises(Conflict):
        holds.create_hold(ctx, p["ann"], "same", "y", [p["bob"]["id"]], [])
    with pytest.raises(NotFound):
        holds.release_hold(ctx, p["ann"], "123456")


def test_new_messages_are_never_deleted_the_cutoff_is_fixed_at_the_start(team):
    ctx, t, p, group, direct = team
    retention.set_policy(ctx, p["ann"], 1)
    old = old_messages(ctx, group, p["bob"], 3, 30)
    started = datetime.now(timezone.utc)
    fresh = []

    def on_deleted(team_id, chat_id, ids):   # new messages arrive while the run deletes
        fresh.append(chat_send.send_message(ctx, p["bob"], group["id"], "new", unique("c"), None, False)[0])

    report = retention.run(ctx.engine, ctx.ids, team_ids=[t["id"]], batch_size=7, on_deleted=on_deleted,
                           now=started + timedelta(days=1, seconds=-5))
    assert report.teams[0].total == 30 and len(fresh) == 5
    assert ids_in(ctx, group) == {int(m["id"]) for m in fresh}
    assert old


def test_in_process_run_drops_deleted_messages_from_tails(team, make_context):
    ctx, t, p, group, direct = team
    old = old_messages(ctx, group, p["bob"], 10, 3)
    ctx = new_life(make_context)   # a server started after the messages were written (imported)
    state = ctx.teams.get(t["id"])
    p = {k: state.users[v["id"]] for k, v in p.items()}
    page, _ = history.history(ctx, p["ann"], group["id"], None, None, 50)
    assert {int(m["id"]) for m in page} == {d["id"] for d in old}   # the tail holds them
    retention.set_policy(ctx, p["ann"], 5)
    out = retention.run_for_team(ctx, p["ann"], dry_run=False)
    assert out["total"] == 3
    assert state.tails[group["id"]].messages == []
    page, _ = history.history(ctx, p["ann"], group["id"], None, None, 50)
    assert page == []


def test_reconcile_tails_after_a_run_elsewhere(team, make_context):
    ctx, t, p, group, direct = team
    old = old_messages(ctx, group, p["bob"], 10, 3)
    keep = old_messages(ctx, group, p["bob"], 1, 1)
    retention.set_policy(ctx, p["ann"], 5)
    ctx = new_life(make_context)   # the server: started after the messages were written
    state = ctx.teams.get(t["id"])
    assert len(history.history(ctx, state.users[p["ann"]["id"]], group["id"], None, None, 50)[0]) == 4
    other = make_context()   # "the command line": another process
    report = retention.run(other.engine, other.ids, team_ids=[t["id"]])
    assert report.total == 3
    record = compliance_store.get_run_record(ctx.engine)
    assert record["run_id"] == report.run_id and record["chats"] == {t["id"]: [group["id"]]}
    assert len(ctx.teams.get(t["id"]).tails[group["id"]].messages) == 4   # stale until reconciled
    assert retention.reconcile_tails(ctx, record) == 3
    assert [m["id"] for m in ctx.teams.get(t["id"]).tails[group["id"]].messages] == [keep[0]["id"]]
    assert old


def test_policy_rules(team):
    ctx, t, p, group, direct = team
    with pytest.raises(Forbidden):
        retention.set_policy(ctx, p["bob"], 5)
    with pytest.raises(NotFound):
        retention.set_policy(ctx, p["ann"], 5, "123456")


def _race(ctx, holders, now):
    barrier = threading.Barrier(len(holders))
    results = {}

    def caller(holder):
        barrier.wait()
        results[holder] = retention.run_due(ctx.engine, ctx.ids, holder, now=now)

    threads = [threading.Thread(target=caller, args=(h,)) for h in holders]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_daily_schedule_runs_once_across_racing_callers(make_context):
    ctx = make_context()
    now = datetime.now(timezone.utc)
    results = _race(ctx, [f"holder-{i}" for i in range(4)], now)
    winners = [h for h, r in results.items() if r is not None]
    assert len(winners) == 1, results
    lease = compliance_store.get_lease(ctx.engine, retention.LEASE).doc
    assert lease["last_run_by"] == winners[0]
    assert retention.run_due(ctx.engine, ctx.ids, "late", now=now + timedelta(hours=23)) is None
    # due again a day later: the racing callers again run it once
    results = _race(ctx, [f"again-{i}" for i in range(4)], now + timedelta(hours=25))
    assert sum(r is not None for r in results.values()) == 1, results
    # a lease held by an instance that died mid-run blocks until it expires, then is taken over
    lease = compliance_store.get_lease(ctx.engine, retention.LEASE)
    soon = datetime.now(timezone.utc) + timedelta(seconds=60)
    assert compliance_store.swap_lease(ctx.engine, retention.LEASE, lease, dict(
        lease.doc, holder="dead", last_run_at=None, expires_at=format_time(soon))) is not None
    assert retention.run_due(ctx.engine, ctx.ids, "x", now=datetime.now(timezone.utc)) is None
    assert retention.run_due(ctx.engine, ctx.ids, "x", now=soon + timedelta(seconds=1)) is not None


def test_export_in_progress_reads_its_snapshot_while_retention_deletes(team, tmp_path):
    ctx, t, p, group, direct = team
    old = old_messages(ctx, group, p["bob"], 40, 12)
    retention.set_policy(ctx, p["ann"], 30)
    out = str(tmp_path / "exp")
    opts = dict(filters=Filters(team=t["name"]), out=out, page_size=2, log=lambda _: None)
    with pytest.raises(ExportError) as stopped:
        run_export(ctx.engine, ExportOptions(**opts, stop_after=4))
    assert stopped.value.exit_code == 6
    assert run(ctx, t).total == 12                  # retention deletes meanwhile
    manifest = run_export(ctx.engine, ExportOptions(**opts, resume=True))
    assert manifest["totals"]["messages"] == 12     # the snapshot's messages, all of them
    import json
    with open(f"{out}/messages.jsonl") as f:
        assert [json.loads(line)["id"] for line in f] == [str(d["id"]) for d in old]


def test_export_scoped_to_a_hold(team, tmp_path):
    ctx, t, p, group, direct = team
    g_bob = old_messages(ctx, group, p["bob"], 2, 2)
    g_cat = old_messages(ctx, group, p["cat"], 2, 2)
    d_ann = old_messages(ctx, direct, p["ann"], 2, 1)
    holds.create_hold(ctx, p["ann"], "Probe", "why", [p["bob"]["id"]], [direct["id"]])
    out = str(tmp_path / "held")
    manifest = run_export(ctx.engine, ExportOptions(filters=Filters(team=t["name"], hold="probe"), out=out,
                                                    log=lambda _: None))
    import json
    with open(f"{out}/messages.jsonl") as f:
        got = {int(json.loads(line)["id"]) for line in f}
    assert got == {d["id"] for d in g_bob + d_ann} and manifest["filters"]["hold"] == "probe"
    assert g_cat
    with pytest.raises(ExportError) as bad:
        run_export(ctx.engine, ExportOptions(filters=Filters(team=t["name"], hold="nope"), out=str(tmp_path / "x"),
                                             log=lambda _: None))
    assert bad.value.exit_code == 2
