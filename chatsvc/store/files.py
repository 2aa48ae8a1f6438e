"""File documents (metadata of uploaded blobs) and attachment claims.

``<prefix>-files`` holds one document per upload (id: the file id); ``<prefix>-attachments``
one create-if-absent claim per attached file (id: the file id), written in the same
``_bulk`` as the message that names it, so a file can belong to one message only.
Reads are realtime ``_mget``s by id: no refresh is ever needed.
"""
from chatsvc.store.bulk import Op
from chatsvc.store.engine import Engine
from chatsvc.store.messages import index_for


def put_file(engine: Engine, doc: dict):
    """Store a new file's metadata (one write; visible to realtime gets at once)."""
    engine.call("index", index=engine.index("files"), id=doc["id"], body=doc)


def get_files(engine: Engine, file_ids: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """({file id: file doc}, {file id: attachment claim}) for the ids: one realtime _mget
    over both indices."""
    if not file_ids:
        return {}, {}
    wanted = [{"_index": engine.index(kind), "_id": fid} for fid in file_ids for kind in ("files", "attachments")]
    docs = engine.call("mget", body={"docs": wanted})["docs"]
    files, claims = {}, {}
    for d in docs:
        if d.get("found"):
            (files if d["_index"] == engine.index("files") else claims)[d["_id"]] = d["_source"]
    return files, claims


def attach_op(engine: Engine, file_id: str, message: dict) -> Op:
    """Claim ``file_id`` for the message; a 409 means another message has it."""
    return Op("create", engine.index("attachments"), file_id,
              {"message_id": message["id"], "chat_id": message["chat_id"],
               "team_id": message["team_id"], "attached_at": message["created_at"]})


def release_op(engine: Engine, file_id: str) -> Op:
    return Op("delete", engine.index("attachments"), file_id)


def file_text_op(engine: Engine, message: dict, text: str, status: str) -> Op:
    """Add the text extracted from a message's files (searched with its body)."""
    return Op("update", index_for(engine, message["id"]), str(message["id"]),
              {"doc": {"file_text": text, "file_text_status": status}}, routing=message["chat_id"])


PENDING = "pending"   # file_text_status of a message whose files' text is not extracted yet
_IGNORE_MISSING = {"ignore_unavailable": "true", "allow_no_indices": "true"}


def pending_text(engine: Engine, team_ids: list[str], sent_before: str, size: int) -> list[dict]:
    """Up to ``size`` messages of these teams, sent before ``sent_before``, whose files'
    text is still pending (their extraction never finished: the process died first), in
    id order. One search, whatever the number of teams."""
    if not team_ids:
        return []
    query = {"bool": {"filter": [{"terms": {"team_id": team_ids}},
                                 {"term": {"file_text_status": PENDING}},
                                 {"range": {"created_at": {"lt": sent_before}}}],
                      "must_not": [{"term": {"deleted": True}}]}}
    body = {"query": query, "size": size, "sort": [{"id": "asc"}], "track_total_hits": False,
            "_source": ["id", "chat_id", "team_id", "files", "created_at"]}
    hits = engine.call("search", index=engine.messages_pattern, body=body, params=_IGNORE_MISSING)
    return [h["_source"] for h in hits["hits"]["hits"]]


def forget_files(engine: Engine, file_ids: list[str]) -> None:
    """Delete these files' documents and attachment claims (their messages are gone): one
    ``_bulk``. A missing document is no error."""
    if not file_ids:
        return
    ops = [{"delete": {"_index": engine.index(kind), "_id": fid}} for fid in file_ids
           for kind in ("files", "attachments")]
    resp = engine.call("bulk", body=ops, params={"filter_path": "items.*.status,items.*.error"})
    bad = [r for item in resp.get("items", ()) for r in item.values() if r.get("status") not in (200, 404)]
    if bad:
        raise RuntimeError(f"engine refused deleting file documents: {bad[0]}")


# Every field that names a blob: a file's content and thumbnail, a user's picture.
_BLOB_FIELDS = {"files": ("sha256", "thumb_sha256"), "users": ("avatar_sha256",)}


def referenced_blobs(engine: Engine, hashes: list[str]) -> set[str]:
    """Which of these blob names any remaining file or user still points at: one search
    over both indices (refreshed first, so an upload acknowledged a moment ago counts),
    one terms aggregation per field, limited to these names."""
    if not hashes:
        return set()
    indices = [engine.index(kind) for kind in _BLOB_FIELDS]
    engine.call("indices.refresh", index=",".join(indices), params=_IGNORE_MISSING)
    fields = [f for kind_fields in _BLOB_FIELDS.values() for f in kind_fields]
    body = {"size": 0, "track_total_hits": False,
            "query": {"bool": {"should": [{"terms": {f: hashes}} for f in fields]}},
            "aggs": {f: {"terms": {"field": f, "include": hashes, "size": len(hashes)}} for f in fields}}
    aggs = engine.call("search", index=",".join(indices), body=body, params=_IGNORE_MISSING)["aggregations"]
    return {b["key"] for f in fields for b in aggs[f]["buckets"]}


def set_avatar(engine: Engine, user_id: str, sha256: str | None):
    """Point a user at a new profile picture blob (None: no picture). A partial update, so
    fields other writers change (last_seen) are left alone."""
    engine.call("update", index=engine.index("users"), id=user_id, retry_on_conflict=5,
                body={"doc": {"avatar_sha256": sha256}})
