"""Engine access of the compliance features (issue 17): roles, retention policies, legal
holds, the audit log, the job lease, and the retention job's searches and deletes.

chat/retention.py, chat/holds.py, chat/audit.py and chat/roles.py hold the rules; this
module holds every query and document shape they need. Admin writes are rare, so they wait
for a refresh (``refresh="wait_for"``): a list or a retention run right after sees them.
"""
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from chatsvc import jsonfast
from chatsvc.ids import format_time
from chatsvc.store.engine import ConflictError, Engine, NotFoundError
from chatsvc.store.scan import scan

_IGNORE_MISSING = {"ignore_unavailable": "true", "allow_no_indices": "true"}


# ------------------------------------------------------------------------------ roles

def set_roles(engine: Engine, user_id: str, is_admin: bool, is_compliance: bool):
    engine.call("update", index=engine.index("users"), id=user_id, refresh="wait_for",
                retry_on_conflict=5, body={"doc": {"is_admin": is_admin, "is_compliance": is_compliance}})


# ------------------------------------------------------------------------------ policies

def policy_id(team_id: str, chat_id: str | None) -> str:
    return f"chat:{chat_id}" if chat_id else f"team:{team_id}"


def put_policy(engine: Engine, team_id: str, chat_id: str | None, days: int | None, at: str, by: str):
    engine.call("index", index=engine.index("retention"), id=policy_id(team_id, chat_id), refresh="wait_for",
                body={"kind": "chat" if chat_id else "team", "team_id": team_id, "chat_id": chat_id,
                      "days": days, "updated_at": at, "updated_by": by})


def delete_policy(engine: Engine, team_id: str, chat_id: str) -> bool:
    try:
        engine.call("delete", index=engine.index("retention"), id=policy_id(team_id, chat_id), refresh="wait_for")
        return True
    except NotFoundError:
        return False


def policies(engine: Engine, team_id: str) -> list[dict]:
    """The team's policy (kind team) and its chats' own policies."""
    query = {"bool": {"filter": [{"term": {"team_id": team_id}}, {"terms": {"kind": ["team", "chat"]}}]}}
    return [{k: v for k, v in d.items() if k != "_id"}
            for d in scan(engine, engine.index("retention"), query, ("kind", "chat_id"))]


def teams_with_policies(engine: Engine) -> list[str]:
    """Ids of the teams that have a retention policy with a number of days (team or chat)."""
    body = {"size": 0, "query": {"bool": {"filter": [{"terms": {"kind": ["team", "chat"]}},
                                                     {"exists": {"field": "days"}}]}},
            "aggs": {"teams": {"terms": {"field": "team_id", "size": 100000}}}}
    engine.call("indices.refresh", index=engine.index("retention"), params=_IGNORE_MISSING)
    resp = engine.call("search", index=engine.index("retention"), body=body, params=_IGNORE_MISSING)
    return sorted(b["key"] for b in resp["aggregations"]["teams"]["buckets"])


RUN_RECORD = "run:last"


def put_run_record(engine: Engine, run_id: str, at: str, chats: dict[str, list[str]]):
    """What the last retention run deleted from: {team_id: [chat ids]} (servers poll it)."""
    engine.call("index", index=engine.index("retention"), id=RUN_RECORD,
                body={"kind": "run", "run_id": run_id, "finished_at": at, "chats": chats})


def get_run_record(engine: Engine) -> dict | None:
    try:
        return engine.call("get", index=engine.index("retention"), id=RUN_RECORD)["_source"]
    except NotFoundError:
        return None


# ------------------------------------------------------------------------------ holds

def put_hold(engine: Engine, hold: dict):
    engine.call("index", index=engine.index("holds"), id=hold["id"], body=hold, refresh="wait_for")


def get_hold(engine: Engine, hold_id: str) -> dict | None:
    try:
        return engine.call("get", index=engine.index("holds"), id=hold_id)["_source"]
    except NotFoundError:
        return None


def holds(engine: Engine, team_id: str, active_only: bool = False) -> list[dict]:
    clauses = [{"term": {"team_id": team_id}}]
    if active_only:
        clauses.append({"term": {"active": True}})
    return [{k: v for k, v in d.items() if k != "_id"}
            for d in scan(engine, engine.index("holds"), {"bool": {"filter": clauses}}, ("id",))]


def hold_by_name(engine: Engine, team_id: str, name: str) -> dict | None:
    body = {"query": {"bool": {"filter": [{"term": {"team_id": team_id}},
                                          {"term": {"name_key": name.strip().casefold()}}]}},
            "size": 1}
    hits = engine.call("search", index=engine.index("holds"), body=body, params=_IGNORE_MISSING)["hits"]["hits"]
    return hits[0]["_source"] if hits else None


# ------------------------------------------------------------------------------ audit

def append_audit(engine: Engine, seq: int, entry: dict) -> str:
    """Append one entry (op_type create under a fresh id: never overwrites). Its id."""
    for _ in range(5):
        entry_id = f"{seq}-{secrets.token_hex(6)}"
        try:
            engine.call("index", index=engine.index("audit"), id=entry_id, op_type="create",
                        body=dict(entry, entry_id=entry_id, seq=seq))
            return entry_id
        except ConflictError:
            continue
    raise RuntimeError("could not find a fresh audit entry id")


def audit_page(engine: Engine, team_id: str, limit: int, before: tuple[int, str] | None) -> list[dict]:
    """Newest first, ``limit`` entries older than the ``before`` (seq, entry_id) key."""
    engine.call("indices.refresh", index=engine.index("audit"), params=_IGNORE_MISSING)
    body = {"query": {"term": {"team_id": team_id}}, "size": limit,
            "sort": [{"seq": "desc"}, {"entry_id": "desc"}], "track_total_hits": False}
    if before is not None:
        body["search_after"] = [before[0], before[1]]
    hits = engine.call("search", index=engine.index("audit"), body=body, params=_IGNORE_MISSING)["hits"]["hits"]
    return [h["_source"] for h in hits]


def audit_all(engine: Engine, team_id: str):
    """Every entry of the team, oldest first (for the JSONL export)."""
    engine.call("indices.refresh", index=engine.index("audit"), params=_IGNORE_MISSING)
    for d in scan(engine, engine.index("audit"), {"term": {"team_id": team_id}}, ("seq", "entry_id")):
        d.pop("_id", None)
        yield d


# ------------------------------------------------------------------------------ lease

@dataclass
class Lease:
    doc: dict
    seq_no: int
    primary_term: int


def get_lease(engine: Engine, name: str) -> Lease | None:
    try:
        r = engine.call("get", index=engine.index("leases"), id=name)
    except NotFoundError:
        return None
    return Lease(r["_source"], r["_seq_no"], r["_primary_term"])


def create_lease(engine: Engine, name: str, doc: dict) -> Lease | None:
    """Create-if-absent; None when another holder created it first."""
    try:
        r = engine.call("index", index=engine.index("leases"), id=name, op_type="create", body=doc)
    except ConflictError:
        return None
    return Lease(doc, r["_seq_no"], r["_primary_term"])


def swap_lease(engine: Engine, name: str, old: Lease, doc: dict) -> Lease | None:
    """Compare-and-set: replace the lease only if it is still ``old``; None if it changed."""
    try:
        r = engine.call("index", index=engine.index("leases"), id=name, body=doc,
                        if_seq_no=old.seq_no, if_primary_term=old.primary_term)
    except ConflictError:
        return None
    return Lease(doc, r["_seq_no"], r["_primary_term"])


# ------------------------------------------------------------------------------ retention

@dataclass(frozen=True)
class RetentionScope:
    """Messages of one team older than ``cutoff`` (created_at <), in ``chat_ids`` (None:
    any chat) but none of ``exclude_chat_ids``, and not covered by a hold: none of
    ``held_chat_ids``, not sent by any of ``held_user_ids``."""
    team_id: str
    cutoff: datetime
    chat_ids: tuple[str, ...] | None = None
    exclude_chat_ids: tuple[str, ...] = ()
    held_chat_ids: tuple[str, ...] = ()
    held_user_ids: tuple[str, ...] = ()


def _retention_query(s: RetentionScope) -> dict:
    clauses = [{"term": {"team_id": s.team_id}},
               {"range": {"created_at": {"lt": format_time(s.cutoff)}}}]
    if s.chat_ids is not None:
        clauses.append({"terms": {"chat_id": list(s.chat_ids)}})
    must_not = []
    if s.exclude_chat_ids or s.held_chat_ids:
        must_not.append({"terms": {"chat_id": sorted(set(s.exclude_chat_ids) | set(s.held_chat_ids))}})
    if s.held_user_ids:
        must_not.append({"terms": {"sender_id": list(s.held_user_ids)}})
    return {"bool": {"filter": clauses, "must_not": must_not}}


def retention_counts(engine: Engine, scope: RetentionScope) -> dict[str, int]:
    """{chat_id: messages the scope would delete} (a dry run), by composite aggregation."""
    out, after = {}, None
    while True:
        composite = {"size": 1000, "sources": [{"chat": {"terms": {"field": "chat_id"}}}]}
        if after:
            composite["after"] = after
        body = {"query": _retention_query(scope), "size": 0, "track_total_hits": False,
                "aggs": {"chats": {"composite": composite}}}
        agg = engine.call("search", index=engine.messages_pattern, body=body,
                          params=_IGNORE_MISSING)["aggregations"]["chats"]
        for b in agg["buckets"]:
            out[b["key"]["chat"]] = b["doc_count"]
        if len(agg["buckets"]) < 1000 or not agg.get("after_key"):
            return out
        after = agg["after_key"]


@dataclass
class Batch:
    """One page of messages to delete: (index, id, chat_id) each, plus their ``files``
    metadata when asked for (a blob store would delete what only they reference)."""
    refs: list[tuple[str, str, str]] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    last_sort: list | None = None


def retention_batch(engine: Engine, scope: RetentionScope, size: int, after: list | None,
                    with_files: bool = False) -> Batch:
    """The next ``size`` messages of the scope in id order, after the sort key ``after``."""
    body = {"query": _retention_query(scope), "size": size, "sort": [{"id": "asc"}],
            "track_total_hits": False, "_source": ["files"] if with_files else False}
    if after is not None:
        body["search_after"] = after
    hits = engine.call("search", index=engine.messages_pattern, body=body,
                       params=dict(_IGNORE_MISSING, filter_path="hits.hits._index,hits.hits._id,"
                                   "hits.hits._routing,hits.hits.sort,hits.hits._source"))
    hits = hits.get("hits", {}).get("hits", [])
    batch = Batch()
    for h in hits:
        batch.refs.append((h["_index"], h["_id"], h["_routing"]))
        if with_files:
            batch.files.extend((h.get("_source") or {}).get("files") or ())
    if hits:
        batch.last_sort = hits[-1]["sort"]
    return batch


def delete_messages(engine: Engine, refs: list[tuple[str, str, str]]) -> int:
    """One ``_bulk`` of deletes; how many documents were deleted (a missing one is not)."""
    if not refs:
        return 0
    body = b"".join(jsonfast.dumpb({"delete": {"_index": i, "_id": d, "routing": r}}) + b"\n"
                    for i, d, r in refs)
    resp = engine.call("bulk", body=body, params={"filter_path": "items.*.status,items.*.error",
                                                  "request_timeout": 120})
    deleted = 0
    for item in resp.get("items", ()):
        (result,) = item.values()
        status = result.get("status", 500)
        if status == 200:
            deleted += 1
        elif status != 404:
            raise RuntimeError(f"engine refused a retention delete: {status} {result.get('error')}")
    return deleted
