"""``flask chatsvc reindex``: bring existing message documents up to the current mapping.

A new sub-field (body.cjk, body.parts) or field (has_link) of index_templates/messages.json
only covers documents written after it exists. This job, per monthly index, oldest first:

1. gives an index made before a new analyzer existed the template's analysis settings (an
   index takes new analyzers only while closed: it is closed and reopened at once, about a
   second during which searches skip it and writes to it fail and are retried by clients);
2. puts the template's mappings (every new field);
3. runs ``_update_by_query`` (sliced, ``conflicts=proceed``: a message changed meanwhile was
   just indexed again by that change) one UTC day of ``created_at`` at a time, each document
   indexed again with the new fields, ``has_link`` computed for those without it
   (LINK_SCRIPT, the rule of chat/links.py);
4. records the last finished day in a small progress document (``<prefix>-reindex``, id =
   the index name), so a rerun continues after it; a finished index is skipped.

It is online: searches and sends go on meanwhile. ``restart=True`` forgets the progress.
"""
import time as clock
from datetime import date, datetime, timedelta, timezone

from chatsvc.store.engine import Engine, TransportError
from chatsvc.store.indices import indices_lacking_analysis, load_templates

KIND = "messages"
LINK_SCRIPT = ("if (ctx._source.has_link == null) { "
               "String b = ctx._source.body == null ? '' : ctx._source.body.toLowerCase(); "
               "ctx._source.has_link = b.contains('http://') || b.contains('https://') || b.contains('www.') }")
_OPEN = {"allow_no_indices": "true", "ignore_unavailable": "true", "expand_wildcards": "open"}


def progress_index(engine: Engine) -> str:
    return engine.index("reindex")


def _ensure_progress_index(engine: Engine):
    try:
        engine.call("indices.create", index=progress_index(engine), body={
            "settings": {"index": {"number_of_shards": 1, "number_of_replicas": engine.replicas}},
            "mappings": {"dynamic": "strict", "properties": {
                "index": {"type": "keyword"}, "done_until": {"type": "date"},
                "finished": {"type": "boolean"}, "updated": {"type": "long"},
                "at": {"type": "date"}}}})
    except TransportError as exc:
        if exc.error != "resource_already_exists_exception":
            raise


def _progress(engine: Engine, name: str) -> dict:
    try:
        return engine.call("get", index=progress_index(engine), id=name)["_source"]
    except TransportError as exc:
        if exc.status_code == 404:
            return {}
        raise


def _save(engine: Engine, name: str, doc: dict):
    engine.call("index", index=progress_index(engine), id=name,
                body=dict(doc, index=name, at=datetime.now(timezone.utc).isoformat()),
                params={"refresh": "true"})


def add_analysis(engine: Engine, name: str, spec: dict):
    """Give one index the template's analysis settings: close, put, open, wait."""
    analysis = spec["template"]["settings"]["analysis"]
    engine.call("indices.close", index=name)
    try:
        engine.call("indices.put_settings", index=name, body={"index": {"analysis": analysis}})
    finally:
        engine.call("indices.open", index=name)
        engine.call("cluster.health", index=name, wait_for_status="yellow",
                    params={"request_timeout": 120})


def _days(engine: Engine, name: str) -> tuple[date, date] | None:
    """The first and last UTC day of created_at in the index (None when empty)."""
    result = engine.call("search", index=name, body={
        "size": 0, "aggs": {"lo": {"min": {"field": "created_at"}},
                            "hi": {"max": {"field": "created_at"}}}})
    lo, hi = result["aggregations"]["lo"]["value"], result["aggregations"]["hi"]["value"]
    if lo is None:
        return None
    as_day = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc).date()  # noqa: E731
    return as_day(lo), as_day(hi)


def _update_day(engine: Engine, name: str, day: date | None, slices) -> int:
    """Index again every document of ``name`` created on ``day`` (None: all). Returns the
    number updated."""
    query = {"match_all": {}} if day is None else {"range": {"created_at": {
        "gte": day.isoformat(), "lt": (day + timedelta(days=1)).isoformat(), "format": "date"}}}
    result = engine.call("update_by_query", index=name, body={
        "query": query, "script": {"lang": "painless", "source": LINK_SCRIPT}},
        params={"conflicts": "proceed", "slices": str(slices), "refresh": "false",
                "wait_for_completion": "true", "request_timeout": 3600})
    if result.get("failures"):
        raise RuntimeError(f"reindex {name} {day}: {result['failures'][:3]}")
    return int(result.get("updated", 0))


def reindex(engine: Engine, *, restart: bool = False, slices="auto", only: str | None = None,
            report=lambda line: None) -> dict:
    """Run the job (see the module doc) over every monthly messages index, or ``only`` one.
    Returns {index: documents updated by this run}. Safe to interrupt and run again."""
    spec = load_templates()[KIND]
    _ensure_progress_index(engine)
    pattern = only or f"{engine.index(KIND)}-*"
    names = sorted(engine.call("indices.get", index=pattern, params=_OPEN))
    names = [n for n in names if n != progress_index(engine)]
    lacking = set(indices_lacking_analysis(engine, pattern, spec))
    out = {}
    for name in names:
        state = {} if restart else _progress(engine, name)
        if state.get("finished"):
            report(f"{name}: done earlier")
            continue
        if name in lacking:
            report(f"{name}: adding analyzers (closing the index for a moment)")
            add_analysis(engine, name, spec)
        engine.call("indices.put_mapping", index=name, body=spec["template"]["mappings"])
        span = _days(engine, name)
        updated = int(state.get("updated", 0))
        started = clock.monotonic()
        if span is not None:
            first, last = span
            done = state.get("done_until")
            day = max(first, date.fromisoformat(done[:10]) + timedelta(days=1)) if done else first
            while day <= last:
                updated += _update_day(engine, name, day, slices)
                _save(engine, name, {"done_until": day.isoformat(), "updated": updated,
                                     "finished": False})
                day += timedelta(days=1)
        _save(engine, name, {"done_until": span[1].isoformat() if span else None,
                             "updated": updated, "finished": True})
        out[name] = updated
        report(f"{name}: {updated} documents in {clock.monotonic() - started:.1f} s")
    return out
