"""Scheduled incremental exports: what an admin set with ``PUT /api/admin/export-schedule``
(chat/export_schedule.py), run when due.

:func:`run_due` runs every enabled schedule that is due now, each at most once at a time
across every process: it takes the team's lease (store.exports: a create-if-absent, or a
compare-and-set over an expired one), reads the schedule again (a caller that lost a race
and comes after the winner finished sees it is no longer due), runs the export of the
messages since the previous run's snapshot time (``--since``; the first run takes all)
into a new folder under the destination, records the run in the schedule, and gives the
lease back. ``flask chatsvc export-scheduled --run-due`` calls it; so does the server:
:func:`start_in_server` (started with the server's worker: gunicorn.conf.py) checks every
CHATSVC_EXPORT_SCHEDULER_SECONDS (60; 0: off) whether anything is due and, if so, runs that command as a child process, so an
export's CPU never stalls the server's event loop.

Incremental means by creation time: an edit, like or deletion made after a message was
exported is in the next full export, not in the next incremental one.
"""
import logging
import os
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

from chatsvc.chat.export_schedule import is_due, view
from chatsvc.export.errors import ExportError
from chatsvc.export.filters import Filters
from chatsvc.export.run import ExportOptions, default_out, run_export
from chatsvc.ids import format_time, now_iso
from chatsvc.store import exports as export_store

log = logging.getLogger(__name__)
LEASE_SECONDS = 6 * 3600
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def schedules(engine) -> list[dict]:
    export_store.ensure(engine)
    return [dict(view(s), team_id=s["team_id"]) for s in export_store.enabled_schedules(engine)]


def due_now(engine, now: str | None = None) -> list[dict]:
    export_store.ensure(engine)
    return [s for s in export_store.enabled_schedules(engine) if is_due(s, now)]


def _record_run(engine, team_id: str, run: dict) -> None:
    """Merge the run into the schedule (compare-and-set: an admin's change meanwhile stays)."""
    for _ in range(10):
        current, version = export_store.get_schedule(engine, team_id)
        if current is None:
            return
        updated = dict(current, **run, runs=(current.get("runs") or 0) + 1)
        try:
            export_store.put_schedule(engine, team_id, updated, version)
            return
        except export_store.Stale:
            continue


def run_one(engine, schedule: dict, owner: str, note=None, lease_seconds: int = LEASE_SECONDS,
            key_file: str | None = None) -> dict:
    team_id = schedule["team_id"]
    now = now_iso()
    expires = format_time(datetime.now(timezone.utc) + timedelta(seconds=lease_seconds))
    lease = export_store.take_lease(engine, f"schedule-{team_id}", owner, now, expires)
    if lease is None:
        return {"team_id": team_id, "status": "busy"}   # another process runs it now
    try:
        current, _ = export_store.get_schedule(engine, team_id)   # real-time: after any winner
        if not is_due(current):
            return {"team_id": team_id, "status": "not due"}
        since = current.get("last_snapshot_time")
        out = base = os.path.join(current["destination"], default_out(team_id))
        n = 1
        while os.path.lexists(out):   # two runs within one second
            n += 1
            out = f"{base}-{n}"
        opts = ExportOptions(filters=Filters(team=team_id, since=since), out=out,
                             format=current["format"], progress=False, key_file=key_file,
                             log=note)
        try:
            os.makedirs(current["destination"], exist_ok=True)
            manifest = run_export(engine, opts)
        except (ExportError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            _record_run(engine, team_id, {"last_run_at": now, "last_status": "failed",
                                          "last_error": message, "last_out": out})
            return {"team_id": team_id, "status": "failed", "error": message, "out": out}
        _record_run(engine, team_id, {"last_run_at": now, "last_status": "ok", "last_error": None,
                                      "last_snapshot_time": manifest["snapshot"]["time"],
                                      "last_out": out})
        return {"team_id": team_id, "status": "ok", "out": out, "since": since,
                "messages": manifest["totals"]["messages"]}
    finally:
        export_store.release_lease(engine, f"schedule-{team_id}", lease)


def run_due(engine, now: str | None = None, log=None, key_file: str | None = None) -> list[dict]:
    """Run every scheduled export due now; one result per due schedule: status ok (with
    out, since, messages), failed (error), busy (another process holds the lease) or not
    due (it ran meanwhile)."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return [run_one(engine, s, owner, note=log, key_file=key_file) for s in due_now(engine, now)]


# ------------------------------------------------------------------------------ in the server

def _command() -> list[str]:
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    return [flask, "--app", "chatsvc:create_app(init_indices=False)", "chatsvc",
            "export-scheduled", "--run-due"]


def start_in_server(app) -> None:
    """Check for due scheduled exports every CHATSVC_EXPORT_SCHEDULER_SECONDS (default 60;
    0 turns it off) in a background greenlet; run them in a child process."""
    interval = app.config["CHATSVC"].export_scheduler_seconds
    if interval <= 0:
        return
    import gevent  # noqa: PLC0415 - the server runs under gevent

    engine = app.extensions["chatsvc"].engine

    def loop():
        while True:
            gevent.sleep(interval)
            try:
                if not due_now(engine):
                    continue
                env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
                done = subprocess.run(_command(), cwd=ROOT, env=env, capture_output=True, text=True)
                for line in (done.stdout + done.stderr).splitlines():
                    log.info("scheduled export: %s", line)
            except Exception as exc:   # the engine may be down: try again next time
                log.warning("scheduled export check failed: %s", exc)

    gevent.spawn(loop)
