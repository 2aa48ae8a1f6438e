"""Engine writes of an import (e.g. a Slack export): many documents at once.

The use-case rules are in chatsvc.chat.slack_import; this module only knows documents and
the engine. Messages take the same idempotency claims as the send path
(store.messages.idempotency_key / the ``idempotency`` index), written in the same ``_bulk``
as the message itself, so a second import of the same export stores nothing twice. Message
documents are written with ``create`` (their ids are made from the original times, so a
re-run makes the same ids): an id already taken is reported, never overwritten.
"""
from dataclasses import dataclass

import orjson

from chatsvc.store.bulk import Op
from chatsvc.store.engine import Engine, NotFoundError
from chatsvc.store.messages import index_for

# Fields the import adds to user documents (added to existing indices' mappings too).
USER_FIELDS = {"unclaimed": {"type": "boolean"}, "imported_from": {"type": "keyword"}}


def ensure_fields(engine: Engine):
    """Add the import's user fields to an existing users index (idempotent; the template
    has them for indices created from now on)."""
    engine.call("indices.put_mapping", index=engine.index("users"), body={"properties": USER_FIELDS})


def _bulk(engine: Engine, body: bytes) -> list[tuple[int, dict | None]]:
    response = engine.call("bulk", body=body, params={"filter_path": "items.*.status,items.*.error"})
    out = []
    for item in response.get("items", ()):
        (result,) = item.values()
        out.append((result.get("status", 500), result.get("error")))
    return out


def write_ops(engine: Engine, ops: list[Op]) -> list[tuple[int, dict | None]]:
    """One ``_bulk`` of ops: [(status, error)] in order."""
    if not ops:
        return []
    return _bulk(engine, b"".join(orjson.dumps(line) + b"\n" for op in ops for line in op.lines()))


def claim_op(engine: Engine, key: str, owner_id: str, created_at: str) -> Op:
    """Create-if-absent of a uniqueness claim (the claims index of store.accounts)."""
    return Op("create", engine.index("claims"), key, {"owner_id": owner_id, "created_at": created_at})


def claim_owners(engine: Engine, keys: list[str]) -> dict[str, str]:
    """{key: owner id} for the keys that are claimed; one realtime _mget."""
    if not keys:
        return {}
    docs = engine.call("mget", index=engine.index("claims"), body={"ids": keys})["docs"]
    return {d["_id"]: d["_source"]["owner_id"] for d in docs if d.get("found")}


def doc_op(engine: Engine, kind: str, doc_id: str, doc: dict, create: bool = False) -> Op:
    return Op("create" if create else "index", engine.index(kind), doc_id, doc)


def get_docs(engine: Engine, kind: str, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    docs = engine.call("mget", index=engine.index(kind), body={"ids": ids})["docs"]
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def contact_op(engine: Engine, team_id: str, owner_id: str, contact_id: str, created_at: str) -> Op:
    return Op("index", engine.index("contacts"), f"{owner_id}:{contact_id}",
              {"team_id": team_id, "owner_id": owner_id, "contact_id": contact_id, "created_at": created_at})


@dataclass
class MessageOutcome:
    claim: int      # HTTP status of the idempotency claim (201 new, 409 taken)
    write: int      # HTTP status of the message create (201 new, 409 id taken)
    error: dict | None = None


def write_messages(engine: Engine, items: list[tuple[dict, str]]) -> list[MessageOutcome]:
    """One ``_bulk`` for (message doc, idempotency key) pairs: per message, the create of
    its claim and the create of the message. Serialised in one pass, straight to bytes."""
    idem = orjson.dumps(engine.index("idempotency"))
    parts = []
    for doc, key in items:
        mid = doc["id"]
        routing = orjson.dumps(doc["chat_id"])
        parts.append(b'{"create":{"_index":%b,"_id":%b}}\n' % (idem, orjson.dumps(key)))
        parts.append(b'{"message_id":%d,"chat_id":%b,"created_at":"%b"}\n'
                     % (mid, routing, doc["created_at"].encode()))
        parts.append(b'{"create":{"_index":"%b","_id":"%d","routing":%b}}\n'
                     % (index_for(engine, mid).encode(), mid, routing))
        parts.append(orjson.dumps(doc) + b"\n")
    results = _bulk(engine, b"".join(parts))
    return [MessageOutcome(results[2 * i][0], results[2 * i + 1][0],
                           results[2 * i][1] if results[2 * i][0] not in (201, 409) else results[2 * i + 1][1])
            for i in range(len(items))]


def undo_messages(engine: Engine, release_keys: list[str], delete_docs: list[dict]):
    """Free idempotency keys and delete message copies that must not stay."""
    ops = [Op("delete", engine.index("idempotency"), key) for key in release_keys]
    ops += [Op("delete", index_for(engine, d["id"]), str(d["id"]), routing=d["chat_id"]) for d in delete_docs]
    for status, error in write_ops(engine, ops):
        if status not in (200, 404):
            raise RuntimeError(f"engine refused an undo: {status} {error}")


def refresh(engine: Engine):
    """Make everything the import wrote searchable now (once, at its end)."""
    engine.call("indices.refresh", index=",".join([engine.messages_pattern] + [
        engine.index(k) for k in ("users", "chats", "claims", "contacts", "teams", "idempotency")]),
        params={"ignore_unavailable": "true", "allow_no_indices": "true"})


def get_claim_owner(engine: Engine, key: str) -> str | None:
    try:
        return engine.call("get", index=engine.index("claims"), id=key)["_source"]["owner_id"]
    except NotFoundError:
        return None


def pause_refresh(engine: Engine, months: list[str]) -> list[str]:
    """Create the monthly message indices an import writes and stop their periodic refresh
    (an engine bulk-load practice: no segment per second while a million documents go in).
    The current month is left alone, so live messages stay searchable as usual. Returns the
    indices paused; :func:`resume_refresh` restores them. An import that dies in between
    leaves them paused: every bootstrap (the next server start, the next import) gives them
    the template's interval back (store.indices.restore_refresh); team loads and the
    import's end refresh them explicitly meanwhile."""
    from chatsvc.store.indices import current_month  # noqa: PLC0415
    names = [engine.messages_index(m) for m in months if m != current_month()]
    for name in names:
        try:
            engine.call("indices.create", index=name)
        except Exception as exc:  # already there is fine
            if getattr(exc, "error", None) != "resource_already_exists_exception":
                raise
    if names:
        engine.call("indices.put_settings", index=",".join(names), body={"index": {"refresh_interval": "-1"}})
    return names


def resume_refresh(engine: Engine, names: list[str]):
    """The messages template's refresh interval again on the indices :func:`pause_refresh` paused."""
    from chatsvc.store.indices import load_templates, refresh_interval  # noqa: PLC0415
    if names:
        interval = refresh_interval(load_templates()["messages"]) or "1s"
        engine.call("indices.put_settings", index=",".join(names), body={"index": {"refresh_interval": interval}})


def move_thread_ids(engine: Engine, chat_id: str, moved: dict[str, int]):
    """Point one chat's imported replies at their roots' actual ids: ``moved`` is
    {id the root was meant to have (as a string): the id it is stored under}."""
    engine.call("update_by_query", index=engine.messages_pattern, body={
        "query": {"bool": {"filter": [{"term": {"chat_id": chat_id}},
                                      {"terms": {"thread_id": [int(k) for k in moved]}},
                                      {"prefix": {"client_msg_id": "slack-"}}]}},
        "script": {"lang": "painless", "params": {"m": moved},
                   "source": "ctx._source.thread_id = params.m[String.valueOf(ctx._source.thread_id)]"}},
        params={"conflicts": "proceed", "refresh": "true", "ignore_unavailable": "true",
                "allow_no_indices": "true"})
