"""Full-text search over the messages indices: one ``_search`` per page.

chat/search.py decides WHAT may be found (the query built by chat/search_query.py, with the
permission filters); this module decides HOW it is asked: the index pattern, the sort, the
snapshot bound and search_after cursor, exact totals and highlighting.

Stable pages: every page of one search carries the same ``upper_id`` (no message newer than
the first page is ever returned, so arrivals do not shift later pages) and continues after
the previous page's last sort values. Scores do not drift between pages either: the
mapping's ``chat_tf`` similarity uses no collection statistics (index_templates/messages.json)
and the caller pins the recency origin. No point-in-time is kept: a message deleted or hidden
between two pages must disappear from the next one, which a frozen reader would not do.
"""
from dataclasses import dataclass

from chatsvc.store.engine import Engine

# Compliance fields never leave the engine through search.
_SOURCE_EXCLUDES = ["deleted_body", "hidden_log", "deleted_by", "deleted_at"]
_PARAMS = {"ignore_unavailable": "true", "allow_no_indices": "true"}
MAX_ROUTING_CHATS = 100   # beyond this, ask every shard rather than build a long routing list


@dataclass
class Hit:
    doc: dict               # _source (without the compliance fields)
    highlights: list[str]   # fragments of body: <mark> around matches, the rest HTML-escaped
    sort: list              # the sort values, for search_after


@dataclass
class Page:
    hits: list[Hit]
    total: int
    total_exact: bool


def sort_clause(by_score: bool) -> list:
    """Relevance: score, then newest first (ids are unique, so the order is total).
    Recent: id descending."""
    return ([{"_score": {"order": "desc"}}] if by_score else []) + [{"id": {"order": "desc"}}]


def search_messages(engine: Engine, query: dict, *, by_score: bool, size: int,
                    upper_id: int, search_after: list | None = None,
                    highlight: dict | None = None, routing_chats: list[str] | None = None,
                    not_before: str | None = None) -> Page:
    """Up to ``size`` messages matching ``query`` with ``id <= upper_id``, after the sort
    values ``search_after`` (a previous page's last hit). ``total`` counts every match under
    the bound (exactly: track_total_hits). ``routing_chats`` (the chats that can match) limits
    the request to their shards. ``not_before`` (a time no match can precede, e.g. the oldest
    chat's creation) and the query's own date range let the engine skip whole monthly
    indices in its pre-filter (can_match) round, which works on date fields."""
    bounds = [{"range": {"id": {"lte": upper_id}}}]
    if not_before is not None:
        bounds.append({"range": {"created_at": {"gte": not_before}}})
    body = {
        "query": {"bool": {"must": [query], "filter": bounds}},
        "sort": sort_clause(by_score),
        "size": size,
        "track_total_hits": True,
        "_source": {"excludes": _SOURCE_EXCLUDES},
    }
    if search_after is not None:
        body["search_after"] = search_after
    if highlight is not None:
        body["highlight"] = highlight
    params = dict(_PARAMS, pre_filter_shard_size="1")
    if routing_chats and len(routing_chats) <= MAX_ROUTING_CHATS:
        params["routing"] = ",".join(routing_chats)
    result = engine.call("search", index=engine.messages_pattern, body=body, params=params)
    hits = result["hits"]
    total = hits.get("total") or {"value": 0, "relation": "eq"}
    return Page(
        hits=[Hit(h["_source"], h.get("highlight", {}).get("body", []), h["sort"]) for h in hits["hits"]],
        total=int(total["value"]),
        total_exact=total.get("relation", "eq") == "eq")
