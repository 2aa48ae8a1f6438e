"""The audit log (issue 17): admin and compliance actions, append-only.

``record`` appends one entry (the engine's create, under an id never reused) *before* the
action it records is done or answered, so nothing an admin does goes unrecorded: if the
entry cannot be written the action fails with ``unavailable``. There is no update or
delete path for entries anywhere in the app. Actions:

  role.change             target user, before/after roles
  retention.set/.clear    team or chat policy, days before/after
  retention.run           a run's deletions (per chat counts; dry runs too)
  hold.create/.release    the hold
  message.delete_for_everyone   the message (its original stays in the record)
  export                  an export's filters, format, totals (from the export job)
  audit.export            the audit log was exported
  login                   an admin or compliance officer logged in
"""
from chatsvc.errors import BadRequest
from chatsvc.ids import now_iso, parse_id
from chatsvc.store import compliance as store

ACTOR_SYSTEM = {"id": None, "username": None}


def record(engine, ids, team_id: str, action: str, actor: dict | None, target: dict | None = None,
           details: dict | None = None) -> str:
    """Append an entry; returns its id. ``ids``: a snowflake generator (``ctx.ids``)."""
    actor = actor or ACTOR_SYSTEM
    return store.append_audit(engine, ids.next_id(), {
        "team_id": team_id, "at": now_iso(), "action": action,
        "actor_id": actor.get("id"), "actor_username": actor.get("username"),
        "target": target or {}, "details": details or {}})


def record_ctx(ctx, me: dict, action: str, target=None, details=None) -> str:
    return record(ctx.engine, ctx.ids, me["team_id"], action, me, target, details)


def _view(entry: dict) -> dict:
    return {"id": entry["entry_id"], "at": entry["at"], "action": entry["action"],
            "actor_id": entry.get("actor_id"), "actor_username": entry.get("actor_username"),
            "target": entry.get("target") or {}, "details": entry.get("details") or {}}


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    seq, _, rest = raw.partition("-")
    number = parse_id(seq)
    if number is None or not rest or len(raw) > 64 or not rest.isalnum():
        raise BadRequest("invalid request", {"before": ["must be an audit entry id"]})
    return number, raw


def page(ctx, me: dict, limit: int, before: str | None) -> dict:
    """GET /api/admin/audit: newest first; ``next_before`` continues (None at the end)."""
    from chatsvc.chat.roles import require_officer  # noqa: PLC0415
    require_officer(me)
    entries = store.audit_page(ctx.engine, me["team_id"], limit + 1, _cursor(before))
    more = len(entries) > limit
    entries = entries[:limit]
    return {"entries": [_view(e) for e in entries],
            "next_before": entries[-1]["entry_id"] if more and entries else None}


def export_lines(engine, team_id: str):
    """Every entry of the team, oldest first, as export records (for JSONL)."""
    for entry in store.audit_all(engine, team_id):
        yield dict(_view(entry), team_id=entry["team_id"])


def record_export(engine, manifest: dict) -> str:
    """An export finished (called at the end of chatsvc.export.run.run_export)."""
    import os  # noqa: PLC0415
    from chatsvc.ids import SnowflakeGenerator  # noqa: PLC0415
    ids = SnowflakeGenerator(int(os.environ.get("CHATSVC_WORKER_ID") or 0))
    return record(engine, ids, manifest["team"]["id"], "export", {"id": None, "username": "(command line)"},
                  {"team": manifest["team"]["name"]},
                  {"filters": manifest["filters"], "format": manifest["format"], "totals": manifest["totals"],
                   "snapshot": {k: manifest["snapshot"].get(k) for k in ("time", "max_id", "messages")},
                   "completed_at": manifest["completed_at"]})
