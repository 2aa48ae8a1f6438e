"""Team leases (issue 18): which instance serves a team, in the engine.

One document per team (id = team id) holds its ``owner`` and, while another instance asks
for the team, ``wanted_by``. Every change is a compare-and-set on (seq_no, primary_term),
so two instances can never both think they wrote the latest version; renewing rewrites
the document, so its seq_no moves while the owner lives (chat/ownership.py reads a
seq_no that stays put for a lease's lifetime as "the owner died").
"""
from dataclasses import dataclass

from chatsvc import jsonfast
from chatsvc.ids import now_iso
from chatsvc.store.bulk import Op
from chatsvc.store.engine import ConflictError, Engine, NotFoundError

KIND = "team_leases"


@dataclass(frozen=True)
class Lease:
    team_id: str
    owner: str
    wanted_by: str | None
    seq_no: int
    primary_term: int


def _doc(team_id: str, owner: str, wanted_by: str | None) -> dict:
    return {"team_id": team_id, "owner": owner, "wanted_by": wanted_by, "renewed_at": now_iso()}


def read(engine: Engine, team_id: str) -> Lease | None:
    """The lease as the engine holds it now (a real-time GET), None if never taken."""
    try:
        r = engine.call("get", index=engine.index(KIND), id=team_id)
    except NotFoundError:
        return None
    src = r["_source"]
    return Lease(team_id, src["owner"], src.get("wanted_by"), r["_seq_no"], r["_primary_term"])


def create(engine: Engine, team_id: str, owner: str) -> Lease | None:
    """Take a team nobody ever held; None if someone did meanwhile."""
    return _write(engine, team_id, owner, None, None)


def write(engine: Engine, seen: Lease, owner: str, wanted_by: str | None = None) -> Lease | None:
    """Replace ``seen`` (renew, take over, ask for, or hand over the team); None when the
    document changed since ``seen`` was read."""
    return _write(engine, seen.team_id, owner, wanted_by, seen)


def _write(engine, team_id, owner, wanted_by, seen: Lease | None) -> Lease | None:
    cas = ({"op_type": "create"} if seen is None
           else {"if_seq_no": seen.seq_no, "if_primary_term": seen.primary_term})
    try:
        r = engine.call("index", index=engine.index(KIND), id=team_id, body=_doc(team_id, owner, wanted_by), **cas)
    except ConflictError:
        return None
    return Lease(team_id, owner, wanted_by, r["_seq_no"], r["_primary_term"])


def renew_all(engine: Engine, held: list[Lease]) -> dict[str, Lease | None]:
    """Renew many leases in one ``_bulk`` (each a compare-and-set): team id -> the new
    lease, or None for those that changed under us (re-read them)."""
    if not held:
        return {}
    lines = []
    for lease in held:
        lines.append({"index": {"_index": engine.index(KIND), "_id": lease.team_id,
                                "if_seq_no": lease.seq_no, "if_primary_term": lease.primary_term}})
        lines.append(_doc(lease.team_id, lease.owner, None))
    body = b"".join(jsonfast.dumpb(line) + b"\n" for line in lines)
    items = engine.call("bulk", body=body)["items"]
    result = {}
    for lease, item in zip(held, items):
        item = item["index"]
        ok = item.get("status") in (200, 201)
        result[lease.team_id] = (Lease(lease.team_id, lease.owner, None, item["_seq_no"], item["_primary_term"])
                                 if ok else None)
    return result


def handover_record(engine: Engine, team_id: str, old: str, new: str) -> Op:
    """A bulk op recording a handover; written through the process's bulk writer it comes
    after every write submitted before it (the old owner's in-flight sends)."""
    return Op("index", engine.index(KIND), f"handover:{team_id}:{now_iso()}",
              {"team_id": team_id, "from": old, "to": new, "at": now_iso()})


def owners(engine: Engine, team_ids: list[str]) -> dict[str, str]:
    """team id -> owner now (real-time multi-get), for operators and tests."""
    r = engine.call("mget", index=engine.index(KIND), body={"ids": list(team_ids)})
    return {d["_id"]: d["_source"]["owner"] for d in r["docs"] if d.get("found")}
