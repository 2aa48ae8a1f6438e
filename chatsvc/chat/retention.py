"""Retention (issue 17): policies, the job that enforces them, and its daily schedule.

Policies: one per team and, optionally, one per chat (its own overrides the team's); each
keeps N days (1..36500) or, with ``days: null``, forever. Only a team admin sets them.

The job (``run``): for each team with a policy, the cutoff of each policy is computed
once, at the start of the run (``now - days``), so a message sent during the run is never
deleted. Messages with ``created_at`` before their chat's cutoff are found by a search on
the team (and chats) and ``created_at``, sorted by id, ``BATCH`` ids a page, and deleted
with one ``_bulk`` per page - never an unbounded delete_by_query. Versions live inside the
message document and go with it; files go through a :class:`FileReaper` after their
messages: in a server and from the command line a ``chat.blob_reaper.BlobReaper``, which
deletes the files' documents and the blobs nothing remaining points at. Messages a legal hold covers are
excluded by the same search; the holds are read again before each page is deleted, and a
page found under other holds is searched again, so a hold acknowledged before a page is
deleted protects it. A dry run counts, per chat, what a run would delete.

Caches: the job running inside a server drops what it deleted from that server's chat
tails as it goes. A run from the command line cannot reach a server's memory, so every
non-dry run ends by writing a run record (which chats it deleted from); each server polls
it (``CHATSVC_RETENTION_POLL`` seconds) and checks the tails of those chats against the
engine (one realtime _mget per chat), dropping what is gone.

Schedule: each server calls :func:`run_due` every poll; a lease document in the engine
(create-if-absent, then compare-and-set on seq_no/primary_term, with an expiry) lets one
instance at a time run it, once per ``CHATSVC_RETENTION_EVERY`` seconds (a day).
"""
import dataclasses
import logging
import os
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from chatsvc.chat import audit, holds
from chatsvc.chat.blob_reaper import BlobReaper
from chatsvc.chat.roles import require_admin, require_officer
from chatsvc.errors import NotFound
from chatsvc.ids import format_time, now_iso
from chatsvc.store import accounts as account_store
from chatsvc.store import compliance as store
from chatsvc.store import messages as message_store
from chatsvc.store.compliance import RetentionScope

log = logging.getLogger(__name__)

MAX_DAYS = 36500
BATCH = 1000   # smaller pages delete more slowly but hold up concurrent sends less (docs/benchmarks.md)
LEASE = "retention-daily"
LEASE_TTL = timedelta(minutes=10)
CLI_ACTOR = {"id": None, "username": "(command line)"}
SCHEDULE_ACTOR = {"id": None, "username": "(daily schedule)"}


# ------------------------------------------------------------------------------ policies

def _policy_view(doc: dict | None) -> dict:
    doc = doc or {}
    return {"days": doc.get("days"), "updated_at": doc.get("updated_at"), "updated_by": doc.get("updated_by")}


def get_policies(ctx, me: dict) -> dict:
    """GET /api/admin/retention: the team's policy and every chat's own."""
    require_officer(me)
    docs = store.policies(ctx.engine, me["team_id"])
    team = next((d for d in docs if d["kind"] == "team"), None)
    chats = sorted((d for d in docs if d["kind"] == "chat"), key=lambda d: int(d["chat_id"]))
    return {"team": _policy_view(team),
            "chats": [dict(_policy_view(d), chat_id=d["chat_id"]) for d in chats]}


def set_policy(ctx, me: dict, days: int | None, chat_id: str | None = None) -> dict:
    """PUT /api/admin/retention (team) or /api/admin/chats/<id>/retention (chat)."""
    require_admin(me)
    state = ctx.teams.get(me["team_id"])
    if chat_id is not None and chat_id not in state.chats:
        raise NotFound("no such chat")
    audit.record_ctx(ctx, me, "retention.set", {"chat_id": chat_id} if chat_id else {"team_id": state.id},
                     {"days": days})
    store.put_policy(ctx.engine, state.id, chat_id, days, now_iso(), me["id"])
    return get_policies(ctx, me)


def clear_chat_policy(ctx, me: dict, chat_id: str) -> dict:
    """DELETE /api/admin/chats/<id>/retention: the chat follows the team's policy again."""
    require_admin(me)
    state = ctx.teams.get(me["team_id"])
    if chat_id not in state.chats:
        raise NotFound("no such chat")
    audit.record_ctx(ctx, me, "retention.clear", {"chat_id": chat_id})
    store.delete_policy(ctx.engine, state.id, chat_id)
    return get_policies(ctx, me)


# ------------------------------------------------------------------------------ the job

class FileReaper:
    """Deletes the blobs of deleted messages. ``wants_files``: the job fetches each
    batch's ``files`` metadata for it."""
    wants_files = False

    def delete(self, files: list[dict]):
        raise NotImplementedError


class NoFiles(FileReaper):
    """Leaves files alone (what a caller gets without a blob store)."""

    def delete(self, files):
        pass


@dataclass
class TeamReport:
    team_id: str
    team_name: str | None
    policies: list[dict] = field(default_factory=list)   # [{chat_ids|"team", days, cutoff}]
    chats: dict[str, int] = field(default_factory=dict)  # chat id -> deleted (or would be)
    files: int = 0

    @property
    def total(self) -> int:
        return sum(self.chats.values())

    def as_dict(self) -> dict:
        return {"team_id": self.team_id, "team": self.team_name, "policies": self.policies,
                "chats": dict(sorted(self.chats.items())), "total": self.total}


@dataclass
class RunReport:
    run_id: str
    started_at: str
    dry_run: bool
    teams: list[TeamReport] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(t.total for t in self.teams)

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "started_at": self.started_at, "dry_run": self.dry_run,
                "teams": [t.as_dict() for t in self.teams], "total": self.total}


def _scopes(team_id: str, docs: list[dict], now: datetime) -> tuple[list[RetentionScope], list[dict]]:
    """The searches of one team's policies: chats with their own days, grouped by days;
    the team's days over every other chat (those with a policy of their own, forever
    included, are excluded)."""
    team_days = next((d.get("days") for d in docs if d["kind"] == "team"), None)
    own = {d["chat_id"]: d.get("days") for d in docs if d["kind"] == "chat"}
    scopes, described = [], []
    by_days: dict[int, list[str]] = {}
    for chat_id, days in own.items():
        if days is not None:
            by_days.setdefault(days, []).append(chat_id)
    for days, chat_ids in sorted(by_days.items()):
        cutoff = now - timedelta(days=days)
        scopes.append(RetentionScope(team_id, cutoff, chat_ids=tuple(sorted(chat_ids))))
        described.append({"chat_ids": sorted(chat_ids), "days": days, "cutoff": format_time(cutoff)})
    if team_days is not None:
        cutoff = now - timedelta(days=team_days)
        scopes.append(RetentionScope(team_id, cutoff, exclude_chat_ids=tuple(sorted(own))))
        described.append({"team": True, "days": team_days, "cutoff": format_time(cutoff)})
    return scopes, described


def _held(engine, scope: RetentionScope, team_id: str) -> RetentionScope:
    chats, users = holds.coverage(engine, team_id)
    return dataclasses.replace(scope, held_chat_ids=tuple(sorted(chats)), held_user_ids=tuple(sorted(users)))


def _delete_scope(engine, scope: RetentionScope, report: TeamReport, batch_size: int, files: FileReaper,
                  on_deleted, renew):
    """Page through the scope and delete each page; the next page is searched while the
    engine deletes the previous one (one delete in flight at a time)."""
    after = None
    pool = ThreadPoolExecutor(1, thread_name_prefix="retention-delete")
    pending = None   # (future, batch) of the delete in flight

    def finish(item):
        future, batch = item
        future.result()
        by_chat: dict[str, set[int]] = {}
        for _, mid, chat_id in batch.refs:
            by_chat.setdefault(chat_id, set()).add(int(mid))
        for chat_id, ids in by_chat.items():
            report.chats[chat_id] = report.chats.get(chat_id, 0) + len(ids)
        if batch.files:   # after their messages: a file without a message is only garbage
            files.delete(batch.files)
            report.files += len(batch.files)
        if on_deleted is not None:
            for chat_id, ids in by_chat.items():
                on_deleted(scope.team_id, chat_id, ids)
        if renew is not None:
            renew()

    try:
        while True:
            held = _held(engine, scope, scope.team_id)
            batch = store.retention_batch(engine, held, batch_size, after, files.wants_files)
            if batch.refs and _held(engine, scope, scope.team_id) != held:
                continue   # a hold changed while we looked: look again under the new holds
            if pending is not None:
                finish(pending)
                pending = None
            if not batch.refs:
                return
            pending = (pool.submit(store.delete_messages, engine, batch.refs), batch)
            after = batch.last_sort
            if len(batch.refs) < batch_size:
                finish(pending)
                pending = None
                return
    finally:
        if pending is not None:
            pending[0].result()
        pool.shutdown(wait=True)


def run(engine, ids, *, team_ids: list[str] | None = None, dry_run: bool = False, now: datetime | None = None,
        batch_size: int = BATCH, files: FileReaper | None = None, on_deleted=None, renew=None,
        actor: dict | None = None) -> RunReport:
    """One retention run over ``team_ids`` (None: every team with a policy)."""
    now = now or datetime.now(timezone.utc)
    files = files or NoFiles()
    report = RunReport(run_id=secrets.token_hex(8), started_at=format_time(now), dry_run=dry_run)
    if team_ids is None:
        team_ids = store.teams_with_policies(engine)
    for team_id in team_ids:
        docs = store.policies(engine, team_id)
        scopes, described = _scopes(team_id, docs, now)
        team = account_store.get_team(engine, team_id) or {}
        tr = TeamReport(team_id, team.get("name"), described)
        for scope in scopes:
            if dry_run:
                for chat_id, n in store.retention_counts(engine, _held(engine, scope, team_id)).items():
                    tr.chats[chat_id] = tr.chats.get(chat_id, 0) + n
            else:
                _delete_scope(engine, scope, tr, batch_size, files, on_deleted, renew)
        report.teams.append(tr)
        if scopes:
            audit.record(engine, ids, team_id, "retention.run", actor or CLI_ACTOR, {"run_id": report.run_id},
                         {"dry_run": dry_run, "policies": described, "chats": dict(sorted(tr.chats.items())),
                          "total": tr.total, "files": tr.files})
    if not dry_run and report.total:
        message_store.refresh(engine)   # searches stop finding what was deleted now
        store.put_run_record(engine, report.run_id, now_iso(),
                             {t.team_id: sorted(t.chats) for t in report.teams if t.chats})
    return report


def run_for_team(ctx, me: dict, dry_run: bool) -> dict:
    """POST /api/admin/retention/run: the caller's team, now, in this server (its tails
    are kept current as it goes)."""
    require_admin(me)
    report = run(ctx.engine, ctx.ids, team_ids=[me["team_id"]], dry_run=dry_run,
                 files=BlobReaper(ctx.engine, ctx.blobs), on_deleted=ctx.teams.discard_messages, actor=me)
    _mark_seen(ctx, report.run_id)
    return report.teams[0].as_dict() | {"run_id": report.run_id, "dry_run": dry_run}


# ------------------------------------------------------------------------------ schedule

class LeaseLost(Exception):
    """Another instance took the lease over (ours expired): stop, it carries on."""


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def run_due(engine, ids, holder: str, *, every: float = 86400, now: datetime | None = None,
            ttl: timedelta = LEASE_TTL, **run_kwargs) -> RunReport | None:
    """Run retention if a run is due and this caller wins the lease; None otherwise.

    Due: no run finished in the last ``every`` seconds. The lease: create-if-absent when
    there is none, else a compare-and-set on its seq_no/primary_term, taken only when
    expired (nobody running). Two racing callers: one wins the create or the swap, the
    other gets a conflict and returns None. The winner renews the lease while it works
    and, at the end, records when it ran and lets the lease expire at once."""
    now = now or datetime.now(timezone.utc)
    lease = store.get_lease(engine, LEASE)
    base = dict(lease.doc) if lease else {"last_run_at": None, "last_run_by": None}
    if lease is not None:
        last = _parse(base.get("last_run_at"))
        if last is not None and last > now - timedelta(seconds=every):
            return None
        if _parse(base.get("expires_at")) > now:
            return None
    doc = dict(base, holder=holder, started_at=format_time(now), expires_at=format_time(now + ttl))
    held = store.create_lease(engine, LEASE, doc) if lease is None else store.swap_lease(engine, LEASE, lease, doc)
    if held is None:
        return None
    state = {"lease": held}

    def renew():
        current = datetime.now(timezone.utc)
        if _parse(state["lease"].doc["expires_at"]) - current > ttl * 2 / 3:
            return
        renewed = store.swap_lease(engine, LEASE, state["lease"],
                                   dict(state["lease"].doc, expires_at=format_time(current + ttl)))
        if renewed is None:
            raise LeaseLost()
        state["lease"] = renewed

    try:
        report = run(engine, ids, now=now, renew=renew, **run_kwargs)
    except BaseException:
        # Let another instance (or our next poll) try again at once.
        store.swap_lease(engine, LEASE, state["lease"], dict(state["lease"].doc, expires_at=format_time(now)))
        raise
    store.swap_lease(engine, LEASE, state["lease"],
                     dict(state["lease"].doc, expires_at=format_time(now), last_run_at=format_time(now),
                          last_run_by=holder))
    return report


def _mark_seen(ctx, run_id: str):
    ctx.__dict__.setdefault("retention_seen", set()).add(run_id)


def reconcile_tails(ctx, record: dict) -> int:
    """Drop from this process's tails the messages a run (anywhere) deleted from the
    chats it names: each such loaded tail is checked against the engine (realtime)."""
    dropped = 0
    for team_id, chat_ids in (record.get("chats") or {}).items():
        state = ctx.teams.peek(team_id)
        if state is None:
            continue
        for chat_id in chat_ids:
            tail = state.tails.get(chat_id)
            held = tail.held() if tail is not None else []
            if not held:
                continue
            present = message_store.get_many(ctx.engine, [(m["id"], chat_id) for m in held])
            gone = {m["id"] for m in held if m["id"] not in present}
            if gone:
                dropped += ctx.teams.discard_messages(team_id, chat_id, gone)
    return dropped


def poll_once(ctx, holder: str, every: float):
    """One tick of the server's background job: the daily run if due, then the tails."""
    if every > 0:
        report = run_due(ctx.engine, ctx.ids, holder, every=every, on_deleted=ctx.teams.discard_messages,
                         files=BlobReaper(ctx.engine, ctx.blobs), actor=SCHEDULE_ACTOR)
        if report is not None:
            _mark_seen(ctx, report.run_id)
            log.info("retention: daily run %s deleted %d messages", report.run_id, report.total)
    record = store.get_run_record(ctx.engine)
    seen = ctx.__dict__.setdefault("retention_seen", set())
    if record and record["run_id"] not in seen:
        seen.add(record["run_id"])
        if ctx.__dict__.get("retention_started"):
            reconcile_tails(ctx, record)


def start_scheduler(ctx):
    """Spawn the server's retention greenlet (gunicorn's post_worker_init calls this)."""
    import gevent  # noqa: PLC0415

    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    poll = ctx.config.retention_poll
    every = ctx.config.retention_every

    def loop():
        first = True
        while True:
            try:
                if first:   # what ran before this process started is already in its state
                    record = store.get_run_record(ctx.engine)
                    if record:
                        _mark_seen(ctx, record["run_id"])
                    ctx.retention_started = True
                    first = False
                poll_once(ctx, holder, every)
            except Exception:
                log.exception("retention: background run failed; retrying at the next poll")
            gevent.sleep(poll)

    return gevent.spawn(loop)
