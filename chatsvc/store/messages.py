"""Message documents: writes as bulk operations, reads of history pages and tails.

A message lives in ``<prefix>-messages-YYYY.MM`` (the month of its id) and is routed by
its chat, so one chat's history is on one shard and reads name that shard.
"""
from chatsvc.ids import id_month
from chatsvc.store.bulk import Op
from chatsvc.store.engine import Engine, read_preference

_IGNORE_MISSING = {"ignore_unavailable": "true", "allow_no_indices": "true"}


def index_for(engine: Engine, message_id: int) -> str:
    return engine.messages_index(id_month(message_id))


# Where an in-memory copy of a message keeps the engine version it was read or written at
# ((seq_no, primary_term)); never stored, never shown (chat/views.py builds what is shown).
_VERSION = "_engine_version"


def version_of(doc: dict) -> tuple[int, int] | None:
    return doc.get(_VERSION)


def remember_version(doc: dict, seq_no: int | None, primary_term: int | None):
    """Note the version the copy ``doc`` matches in the engine (None: unknown)."""
    if seq_no is None or primary_term is None:
        doc.pop(_VERSION, None)
    else:
        doc[_VERSION] = (seq_no, primary_term)


def forget_version(doc: dict):
    doc.pop(_VERSION, None)


def _stored_fields(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != _VERSION} if _VERSION in doc else doc


def _with_version(hit: dict) -> dict:
    """A search hit's or a get's source, marked with its version when the answer had it."""
    source = hit["_source"]
    if "_seq_no" in hit:
        remember_version(source, hit["_seq_no"], hit.get("_primary_term"))
    return source


def write_op(engine: Engine, doc: dict) -> Op:
    return Op("index", index_for(engine, doc["id"]), str(doc["id"]), _stored_fields(doc),
              routing=doc["chat_id"])


def replace_op(engine: Engine, doc: dict, version: tuple[int, int]) -> Op:
    """Write the whole of ``doc`` if the stored message is still at ``version``; a 409
    conflict otherwise. Cheaper for the engine than a script (no read of the old document),
    so it is the hot path's way to store a change to a copy known to match the engine."""
    return Op("index", index_for(engine, doc["id"]), str(doc["id"]), _stored_fields(doc),
              routing=doc["chat_id"], if_seq_no=version[0], if_primary_term=version[1])


def delete_op(engine: Engine, doc: dict) -> Op:
    return Op("delete", index_for(engine, doc["id"]), str(doc["id"]), routing=doc["chat_id"])


def idempotency_key(sender_id: str, client_msg_id: str) -> str:
    return f"{sender_id}:{client_msg_id}"


def idempotency_op(engine: Engine, key: str, message_id: int, chat_id: str, created_at: str) -> Op:
    # "create" fails with 409 if another writer (another process) claimed the key first.
    return Op("create", engine.index("idempotency"), key,
              {"message_id": message_id, "chat_id": chat_id, "created_at": created_at})


def release_idempotency_op(engine: Engine, key: str) -> Op:
    return Op("delete", engine.index("idempotency"), key)


def lookup_idempotency(engine: Engine, keys: list[str]) -> dict[str, dict]:
    """{key: {message_id, chat_id}} for the keys already used; one realtime _mget."""
    if not keys:
        return {}
    docs = engine.call("mget", index=engine.index("idempotency"), body={"ids": keys})["docs"]
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def get_many(engine: Engine, refs: list[tuple[int, str]]) -> dict[int, dict]:
    """{id: doc} for (message_id, chat_id) pairs; realtime, one _mget."""
    if not refs:
        return {}
    body = {"docs": [{"_index": index_for(engine, mid), "_id": str(mid), "routing": chat_id}
                     for mid, chat_id in refs]}
    # _mget takes no ignore_unavailable: a missing index is a per-doc error (not found).
    docs = engine.call("mget", body=body)["docs"]
    return {int(d["_id"]): _with_version(d) for d in docs if d.get("found")}


def refresh(engine: Engine):
    """Make every acknowledged message searchable now. Never on a per-message path: used
    once per team load, and when a chat's tail has just evicted unrefreshed messages."""
    engine.call("indices.refresh", index=engine.messages_pattern,
                params={"ignore_unavailable": "true", "allow_no_indices": "true"})


# Painless scripts of the changes to one message. Each is a no-op when there is nothing to
# change, so a retried or racing request leaves the document as one request would.
_LIKE = ("if (!ctx._source.liked_by.contains(params.u)) { ctx._source.liked_by.add(params.u) } "
         "else { ctx.op = 'noop' }")
_UNLIKE = "if (!ctx._source.liked_by.removeIf(x -> x == params.u)) { ctx.op = 'noop' }"
_HIDE = ("if (!ctx._source.hidden_for.contains(params.u)) { ctx._source.hidden_for.add(params.u); "
         "if (ctx._source.hidden_log == null) { ctx._source.hidden_log = [] } "
         "ctx._source.hidden_log.add(['user_id': params.u, 'at': params.t]) } else { ctx.op = 'noop' }")
_DELETE = ("if (ctx._source.deleted != true) { ctx._source.deleted = true; "
           "ctx._source.deleted_body = ctx._source.body; ctx._source.body = ''; "
           "ctx._source.deleted_at = params.t; ctx._source.deleted_by = params.u } else { ctx.op = 'noop' }")


# An edit keeps the text it replaces, with the time that text was written (or last edited),
# for the compliance export; a message deleted for everyone is not edited ('noop').
_EDIT = ("if (ctx._source.deleted == true) { ctx.op = 'noop' } else { "
         "if (ctx._source.versions == null) { ctx._source.versions = [] } "
         "ctx._source.versions.add(['body': ctx._source.body, 'at': ctx._source.edited_at != null "
         "? ctx._source.edited_at : ctx._source.created_at, 'until': params.t]); "
         "ctx._source.body = params.b; ctx._source.edited_at = params.t; ctx._source.mentions = params.m; "
         "ctx._source.has_link = params.l }")
# reactions: [{emoji, user_ids}], in the order each emoji was first used; a reaction whose
# last user took it back is removed.
_REACT = ("if (ctx._source.reactions == null) { ctx._source.reactions = [] } "
          "def rs = ctx._source.reactions; def r = null; "
          "for (def x : rs) { if (x.emoji == params.e) { r = x; break; } } "
          "boolean changed = false; "
          "if (params.add) { if (r == null) { r = ['emoji': params.e, 'user_ids': []]; rs.add(r) } "
          "if (!r.user_ids.contains(params.u)) { r.user_ids.add(params.u); changed = true } } "
          "else if (r != null) { changed = r.user_ids.removeIf(x -> x == params.u); "
          "if (r.user_ids.isEmpty()) { rs.removeIf(x -> x.emoji == params.e) } } "
          "if (!changed) { ctx.op = 'noop' }")
# A thread root's reply summary, updated in the same bulk as each reply (and undone if that
# reply turns out to be a duplicate): the count, the latest time, the latest 5 repliers.
_REPLIED = ("ctx._source.reply_count = (ctx._source.reply_count == null ? 0 : ctx._source.reply_count) + 1; "
            "ctx._source.last_reply_at = params.t; "
            "if (ctx._source.reply_user_ids == null) { ctx._source.reply_user_ids = [] } "
            "ctx._source.reply_user_ids.removeIf(x -> x == params.u); ctx._source.reply_user_ids.add(params.u); "
            "while (ctx._source.reply_user_ids.size() > params.n) { ctx._source.reply_user_ids.remove(0) }")
_UNREPLIED = ("if (ctx._source.reply_count != null && ctx._source.reply_count > 0) "
              "{ ctx._source.reply_count -= 1 } else { ctx.op = 'noop' }")
REPLY_USERS = 5


def _script(source: str, params: dict) -> dict:
    return {"script": {"lang": "painless", "source": source, "params": params}}


def like_op(engine: Engine, message: dict, user_id: str, liked: bool) -> Op:
    """Add (``liked``) or remove the user's like, as a bulk operation."""
    return Op("update", index_for(engine, message["id"]), str(message["id"]),
              _script(_LIKE if liked else _UNLIKE, {"u": user_id}), routing=message["chat_id"])


def _update_op(engine: Engine, message: dict, source: str, params: dict) -> Op:
    return Op("update", index_for(engine, message["id"]), str(message["id"]),
              _script(source, params), routing=message["chat_id"])


def edit_op(engine: Engine, message: dict, body: str, at: str, mentions: list[str],
            has_link: bool = False) -> Op:
    """Replace the body (who it mentions, whether it holds a link), keeping the old text in
    ``versions``; its result is 'noop' when the message was deleted for everyone meanwhile."""
    return _update_op(engine, message, _EDIT, {"b": body, "t": at, "m": list(mentions),
                                               "l": bool(has_link)})


def reaction_op(engine: Engine, message: dict, emoji: str, user_id: str, added: bool) -> Op:
    """Add or take back one user's reaction (any emoji but the like: see like_op)."""
    return _update_op(engine, message, _REACT, {"e": emoji, "u": user_id, "add": added})


def replied_op(engine: Engine, root: dict, user_id: str, at: str) -> Op:
    """A root's reply summary after one more reply by ``user_id`` at ``at``."""
    return _update_op(engine, root, _REPLIED, {"u": user_id, "t": at, "n": REPLY_USERS})


def unreplied_op(engine: Engine, root: dict) -> Op:
    """Take back one reply from the root's count (a duplicate reply that was deleted)."""
    return _update_op(engine, root, _UNREPLIED, {})


def _update_now(engine: Engine, message: dict, source: str, params: dict) -> bool:
    """True when the script changed the document ('noop' otherwise). Waits for the next
    refresh, so the change is already visible to search on return."""
    return engine.call("update", index=index_for(engine, message["id"]), id=str(message["id"]),
                routing=message["chat_id"], retry_on_conflict=5, refresh="wait_for",
                body=_script(source, params)).get("result") != "noop"


def hide(engine: Engine, message: dict, user_id: str, at: str):
    """Hide the message from one user (logged with the time, for the export)."""
    _update_now(engine, message, _HIDE, {"u": user_id, "t": at})


def delete_for_everyone(engine: Engine, message: dict, user_id: str, at: str) -> bool:
    """Empty the body for everyone; the original stays in ``deleted_body`` for the export.
    False when it was deleted already."""
    return _update_now(engine, message, _DELETE, {"u": user_id, "t": at})


def _visible_to(viewer_id: str | None) -> list:
    return [{"term": {"hidden_for": viewer_id}}] if viewer_id else []


# Thread-only replies: they show in their thread, not in the chat's flow.
_THREAD_ONLY = {"bool": {"filter": [{"exists": {"field": "thread_id"}}],
                         "must_not": [{"term": {"also_in_chat": True}}]}}


def page(engine: Engine, chat_id: str, *, before: int | None = None, after: int | None = None,
         limit: int = 50, viewer_id: str | None = None, thread_id: int | None = None) -> list[dict]:
    """Up to ``limit`` messages between the cursors, nearest the cursor first: descending
    below ``before`` (or the latest), ascending above ``after``. Without ``thread_id``: the
    chat's flow (top-level messages and replies also sent to the chat); with it: the replies
    of that thread."""
    bounds = {}
    if before is not None:
        bounds["lt"] = before
    if after is not None:
        bounds["gt"] = after
    scope = [{"term": {"chat_id": chat_id}}]
    if thread_id is not None:
        scope.append({"term": {"thread_id": thread_id}})
    query = {"bool": {"filter": scope + ([{"range": {"id": bounds}}] if bounds else []),
                      "must_not": _visible_to(viewer_id) + ([] if thread_id is not None else [_THREAD_ONLY])}}
    order = "asc" if after is not None and before is None else "desc"
    body = {"query": query, "size": limit, "sort": [{"id": order}], "track_total_hits": False,
            "seq_no_primary_term": True}
    # The viewer's pages stay on the same shard copies (issue 18; store.engine.read_preference).
    params = dict(_IGNORE_MISSING, preference=read_preference(viewer_id or chat_id))
    hits = engine.call("search", index=engine.messages_pattern, routing=chat_id, body=body,
                       params=params)["hits"]["hits"]
    return [_with_version(h) for h in hits]


def tails(engine: Engine, chat_ids: list[str], size: int) -> dict[str, list[dict]]:
    """The latest ``size`` messages of each chat, newest first: one _msearch for all."""
    if not chat_ids:
        return {}
    body = []
    for chat_id in chat_ids:
        body.append({"index": engine.messages_pattern, "routing": chat_id, "preference": read_preference(chat_id),
                     "ignore_unavailable": True, "allow_no_indices": True})
        body.append({"query": {"term": {"chat_id": chat_id}}, "size": size,
                     "sort": [{"id": "desc"}], "track_total_hits": False, "seq_no_primary_term": True})
    responses = engine.call("msearch", body=body)["responses"]
    out = {}
    for chat_id, resp in zip(chat_ids, responses):
        if "error" in resp:
            raise RuntimeError(f"tail query failed for chat {chat_id}: {resp['error']}")
        out[chat_id] = [_with_version(h) for h in resp["hits"]["hits"]]
    return out


def counts_below(engine: Engine, asks: list[tuple[str, str, int, int]]) -> list[tuple[int, int]]:
    """For each (chat id, viewer id, after id, below id): (unread, mentions) among the
    chat's stored messages with after < id < below, by the rules of chat.views.unread_count
    and mention_count (others' messages in the chat's flow; messages mentioning the viewer;
    neither deleted for everyone nor hidden by the viewer). One _msearch for all."""
    if not asks:
        return []
    body = []
    for chat_id, viewer_id, after, below in asks:
        body.append({"index": engine.messages_pattern, "routing": chat_id, "preference": read_preference(chat_id),
                     "ignore_unavailable": True, "allow_no_indices": True})
        body.append({"size": 0, "track_total_hits": False, "query": {"bool": {
            "filter": [{"term": {"chat_id": chat_id}}, {"range": {"id": {"gt": after, "lt": below}}}],
            "must_not": [{"term": {"deleted": True}}, {"term": {"hidden_for": viewer_id}}]}},
            "aggs": {
                "unread": {"filter": {"bool": {
                    "must_not": [{"term": {"sender_id": viewer_id}}],
                    "should": [{"bool": {"must_not": [{"exists": {"field": "thread_id"}}]}},
                               {"term": {"also_in_chat": True}}],
                    "minimum_should_match": 1}}},
                "mentions": {"filter": {"term": {"mentions": viewer_id}}}}})
    out = []
    for (chat_id, *_), resp in zip(asks, engine.call("msearch", body=body)["responses"]):
        if "error" in resp:
            raise RuntimeError(f"count query failed for chat {chat_id}: {resp['error']}")
        aggs = resp.get("aggregations") or {}   # no index yet: nothing stored
        out.append((aggs.get("unread", {}).get("doc_count", 0), aggs.get("mentions", {}).get("doc_count", 0)))
    return out


def find_by_id(engine: Engine, message_id: int) -> dict | None:
    """A message by id when its chat is unknown: a search (sees only refreshed data)."""
    body = {"query": {"term": {"id": message_id}}, "size": 1, "seq_no_primary_term": True}
    hits = engine.call("search", index=index_for(engine, message_id), body=body,
                       params=_IGNORE_MISSING)["hits"]["hits"]
    return _with_version(hits[0]) if hits else None
