"""The team's scheduled compliance export: an admin sets it (REST), the scheduler runs it
(chatsvc/export/scheduled.py). Kept in the engine (store.exports' ``schedule:<team>``), so
every server process sees the same schedule and its last run."""
from datetime import datetime, timedelta

from chatsvc.errors import Forbidden
from chatsvc.ids import format_time, now_iso
from chatsvc.store import exports as export_store

VIEW_FIELDS = ("every_hours", "format", "destination", "enabled", "updated_at", "updated_by",
               "last_run_at", "last_snapshot_time", "last_status", "last_error", "last_out", "runs")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def next_due(schedule: dict | None) -> str | None:
    """When the schedule is next due (None: disabled or unset): at once if it never ran,
    else ``every_hours`` after its last run."""
    if not schedule or not schedule.get("enabled") or not schedule.get("every_hours"):
        return None
    last = schedule.get("last_run_at")
    if not last:
        return schedule.get("updated_at") or now_iso()
    return format_time(_parse(last) + timedelta(hours=schedule["every_hours"]))


def is_due(schedule: dict | None, now: str | None = None) -> bool:
    due = next_due(schedule)
    return due is not None and due <= (now or now_iso())


def view(schedule: dict | None) -> dict:
    schedule = schedule or {}
    out = {k: schedule.get(k) for k in VIEW_FIELDS}
    out["enabled"] = bool(out["enabled"])
    out["next_due_at"] = next_due(schedule)
    return out


def _require_admin(me: dict):
    if not me.get("is_admin"):
        raise Forbidden("only a team admin may see or change the scheduled export")


def get_schedule(ctx, me: dict) -> dict:
    _require_admin(me)
    schedule, _ = export_store.get_schedule(ctx.engine, me["team_id"])
    return view(schedule)


def set_schedule(ctx, me: dict, every_hours: int, fmt: str, destination: str, enabled: bool) -> dict:
    """Set the schedule (values checked by the API's schema); its run history is kept.
    A compare-and-set against the scheduler's own writes of the last run."""
    _require_admin(me)
    for _ in range(10):
        current, version = export_store.get_schedule(ctx.engine, me["team_id"])
        schedule = dict(current or {}, every_hours=every_hours, format=fmt, destination=destination,
                        enabled=enabled, updated_at=now_iso(), updated_by=me["id"])
        try:
            export_store.put_schedule(ctx.engine, me["team_id"], schedule, version)
            return view(schedule)
        except export_store.Stale:
            continue
    export_store.put_schedule(ctx.engine, me["team_id"], schedule, any_version=True)
    return view(schedule)
