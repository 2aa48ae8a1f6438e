"""Compliance export bookkeeping in the engine (index ``<prefix>-exports``), a few small
documents per team, each read and written by id (real-time GET, no refresh needed):

  chain:<team_id>     the latest export's manifest hash: the next export's manifest names it
  schedule:<team_id>  the admin's scheduled export (every_hours, format, destination,
                      enabled) and its last run (time, snapshot time, status, folder)
  lease:<team_id>     who runs the team's scheduled export now and until when: taken with a
                      create-if-absent, or by compare-and-set (seq_no/primary_term) once
                      expired, so two server processes never both run it

Writes that must not lose a race use the engine's optimistic concurrency: a document's
``(seq_no, primary_term)`` is returned by the reads here and passed back to the writes.
"""
from chatsvc.store.engine import ConflictError, Engine, NotFoundError, TransportError
from chatsvc.store.indices import bootstrap, load_templates

KIND = "exports"


class Stale(Exception):
    """A compare-and-set lost: the document changed since it was read."""


def ensure(engine: Engine) -> None:
    """The exports template and index (a command-line export runs without the server's
    bootstrap; idempotent)."""
    try:
        if engine.call("indices.exists", index=engine.index(KIND)):
            return
    except TransportError:
        pass
    bootstrap(engine, {KIND: load_templates()[KIND]})


def _get(engine: Engine, doc_id: str) -> tuple[dict | None, tuple[int, int] | None]:
    try:
        r = engine.call("get", index=engine.index(KIND), id=doc_id)
    except NotFoundError:
        return None, None
    return r["_source"], (r["_seq_no"], r["_primary_term"])


def _cas_write(engine: Engine, doc_id: str, body: dict, version: tuple[int, int] | None,
               refresh: bool = False) -> tuple[int, int]:
    """Write ``body`` if the document is still at ``version`` (None: only if absent);
    raises Stale otherwise. Returns the new version."""
    params = {"refresh": "true"} if refresh else {}
    try:
        if version is None:
            r = engine.call("index", index=engine.index(KIND), id=doc_id, body=body,
                            op_type="create", params=params)
        else:
            r = engine.call("index", index=engine.index(KIND), id=doc_id, body=body,
                            if_seq_no=version[0], if_primary_term=version[1], params=params)
    except ConflictError:
        raise Stale(doc_id) from None
    return r["_seq_no"], r["_primary_term"]


# ------------------------------------------------------------------------------ chain

def latest_export(engine: Engine, team_id: str):
    """(the team's latest export record or None, its version for set_latest_export)."""
    return _get(engine, f"chain:{team_id}")


def set_latest_export(engine: Engine, team_id: str, record: dict, version) -> None:
    """Record ``record`` (manifest_sha256, snapshot_time, completed_at, format, out,
    sequence) as the team's latest export, if the latest is still the one read at
    ``version``; raises Stale otherwise (another export finished meanwhile)."""
    _cas_write(engine, f"chain:{team_id}", dict(record, kind="chain", team_id=team_id), version)


# ------------------------------------------------------------------------------ schedule

SCHEDULE_FIELDS = ("every_hours", "format", "destination", "enabled", "updated_at", "updated_by",
                   "last_run_at", "last_snapshot_time", "last_status", "last_error", "last_out", "runs")


def get_schedule(engine: Engine, team_id: str):
    """(the team's schedule or None, its version)."""
    return _get(engine, f"schedule:{team_id}")


def put_schedule(engine: Engine, team_id: str, schedule: dict, version=None, *,
                 any_version: bool = False) -> tuple[int, int]:
    """Write the whole schedule: at ``version`` (compare-and-set; None: only if absent),
    or whatever is there with ``any_version``. Refreshed, so due_schedules sees it."""
    body = {k: schedule.get(k) for k in SCHEDULE_FIELDS}
    body.update(kind="schedule", team_id=team_id)
    if any_version:
        r = engine.call("index", index=engine.index(KIND), id=f"schedule:{team_id}", body=body,
                        params={"refresh": "true"})
        return r["_seq_no"], r["_primary_term"]
    return _cas_write(engine, f"schedule:{team_id}", body, version, refresh=True)


def enabled_schedules(engine: Engine, limit: int = 1000) -> list[dict]:
    """Every enabled schedule (the scheduler decides which are due)."""
    try:
        r = engine.call("search", index=engine.index(KIND), body={
            "query": {"bool": {"filter": [{"term": {"kind": "schedule"}},
                                          {"term": {"enabled": True}}]}},
            "size": limit, "sort": [{"team_id": "asc"}]},
            params={"ignore_unavailable": "true"})
    except NotFoundError:
        return []
    return [h["_source"] for h in r["hits"]["hits"]]


# ------------------------------------------------------------------------------ lease

def take_lease(engine: Engine, name: str, owner: str, now: str, expires_at: str) -> tuple[int, int] | None:
    """Take the lease ``name`` for ``owner`` until ``expires_at`` (RFC 3339, comparable as
    strings): created if absent, or taken over by compare-and-set if it expired before
    ``now``. Returns its version (to release it) or None if someone else holds it."""
    body = {"kind": "lease", "team_id": name, "owner": owner, "expires_at": expires_at, "updated_at": now}
    doc_id = f"lease:{name}"
    current, version = _get(engine, doc_id)
    if current is not None and current.get("expires_at", "") > now:
        return None
    try:
        return _cas_write(engine, doc_id, body, version)
    except Stale:
        return None


def release_lease(engine: Engine, name: str, version: tuple[int, int]) -> None:
    """Give the lease back (only if it is still ours: at the version we took it)."""
    try:
        engine.call("delete", index=engine.index(KIND), id=f"lease:{name}",
                    if_seq_no=version[0], if_primary_term=version[1])
    except (ConflictError, NotFoundError):
        pass
