"""Reading a consistent snapshot of the messages indices for the compliance export.

The snapshot is a point-in-time (PIT) search over ``<prefix>-messages-*``: every page is
read from the state of the indices at the moment the PIT was opened, so a message written
during the export is wholly in it (written before) or wholly out (after), and likes or
deletions made meanwhile do not show. Pages are sorted by (chat_id, id) and walked with
``search_after``; nothing but one page (and the next, prefetched) is held in memory.

The PIT API is where OpenSearch and Elasticsearch differ, so it lives here only:
  OpenSearch 2.4+/3: POST /<index>/_search/point_in_time?keep_alive=5m -> {"pit_id"}
                     search body {"pit": {"id", "keep_alive"}} with no index in the URL
                     DELETE /_search/point_in_time {"pit_id": [...]}
  (Elasticsearch 8: POST /<index>/_pit -> {"id"}, {"pit": {"id", "keep_alive"}} too,
   DELETE /_pit {"id"}.)

A PIT does not outlive its keep-alive; an export resumed later cannot reopen the same
snapshot, so :func:`upper_bound` records the greatest message id in it: a new PIT filtered
by ``id <= bound`` selects the same messages (ids are time-ordered and a chat's ids are
strictly increasing, so nothing older can appear later - barring a write still in flight
when the snapshot was taken).
"""
import collections
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from chatsvc.ids import format_time
from chatsvc.store.engine import Engine, NotFoundError, TransportError
from chatsvc.store.search import (DELETED_PHRASE_FIELD, DELETED_PREFIX_FIELD, DELETED_TEXT_FIELDS,
                                  TEXT_FIELDS, TextMatch, flag_clauses, phrase_clause, prefix_clause,
                                  text_clauses, word_clause)

KEEP_ALIVE = "5m"
SORT = [{"chat_id": "asc"}, {"id": "asc"}]
# What a page carries: the whole _source (filtering it would make the engine parse and
# rewrite every document: ~20% more engine CPU than copying it), and nothing else (the
# search_after key is read back from the source's chat_id and id).
SOURCE = True
PAGE = 10000          # the engine's max_result_window: the largest page one search returns
REQUEST_TIMEOUT = 120  # a page of 10,000 documents can take more than the default 10 s
_IGNORE_MISSING = {"ignore_unavailable": "true", "allow_no_indices": "true"}


@dataclass(frozen=True)
class ExportMatch:
    """Which messages of a team an export takes, with no per-user visibility rule: deleted
    and hidden ones too. Every part narrows (AND). ``chat_ids``: any of these chats (None:
    every chat). ``sender_ids``: any of them sent it. ``since`` inclusive; ``until``
    inclusive when ``until_inclusive``, else exclusive. ``text`` matches what the author
    wrote: the body, or the original of a message deleted for everyone."""
    team_id: str
    chat_ids: tuple[str, ...] | None = None
    sender_ids: tuple[str, ...] | None = None
    has_like: bool = False
    has_reaction: bool = False
    thread: bool = False
    edited: bool = False
    has_link: bool = False
    since: datetime | None = None
    until: datetime | None = None
    until_inclusive: bool = True
    text: TextMatch = TextMatch()
    # A legal hold's reach (issue 17): in any of these chats OR sent by any of these users.
    covered_chat_ids: tuple[str, ...] | None = None
    covered_sender_ids: tuple[str, ...] | None = None


def _written_word(word: str) -> dict:
    return word_clause(word, TEXT_FIELDS + DELETED_TEXT_FIELDS)


def _written_phrase(phrase: str) -> dict:
    return {"bool": {"should": [phrase_clause(phrase), phrase_clause(phrase, DELETED_PHRASE_FIELD)],
                     "minimum_should_match": 1}}


def _written_prefix(prefix: str) -> dict:
    return {"bool": {"should": [prefix_clause(prefix), prefix_clause(prefix, DELETED_PREFIX_FIELD)],
                     "minimum_should_match": 1}}


def export_query(m: ExportMatch) -> dict:
    """The engine query of an export's scope (recorded in its state and manifest)."""
    clauses = [{"term": {"team_id": m.team_id}}]
    if m.sender_ids is not None:
        clauses.append({"terms": {"sender_id": list(m.sender_ids)}})
    clauses += flag_clauses(has_like=m.has_like, has_reaction=m.has_reaction, thread=m.thread,
                            edited=m.edited, has_link=m.has_link)
    if m.since or m.until:
        bounds = {"gte": format_time(m.since)} if m.since else {}
        if m.until:
            bounds["lte" if m.until_inclusive else "lt"] = format_time(m.until)
        clauses.append({"range": {"created_at": bounds}})
    if m.chat_ids is not None:
        clauses.append({"terms": {"chat_id": list(m.chat_ids)}})
    if m.covered_chat_ids is not None or m.covered_sender_ids is not None:
        clauses.append({"bool": {"should": [{"terms": {"chat_id": list(m.covered_chat_ids or ())}},
                                            {"terms": {"sender_id": list(m.covered_sender_ids or ())}}],
                                 "minimum_should_match": 1}})
    must, must_not = text_clauses(m.text, _written_word, _written_phrase, _written_prefix)
    boolean = {"filter": clauses}
    if must:
        boolean["must"] = must
    if must_not:
        boolean["must_not"] = must_not
    return {"bool": boolean}


class SnapshotExpired(Exception):
    """The point in time was closed or timed out (its keep-alive passed)."""


def refresh(engine: Engine, kinds=("chats", "reads", "users")) -> None:
    """Make every acknowledged write searchable: the messages indices (written without
    refresh) and the small per-team kinds the export reads beside them. One call."""
    names = ",".join([engine.messages_pattern] + [engine.index(k) for k in kinds])
    engine.call("indices.refresh", index=names, params=dict(_IGNORE_MISSING, request_timeout=60))


def open_snapshot(engine: Engine, keep_alive: str = KEEP_ALIVE) -> str:
    """Open a PIT over every messages index; returns its id."""
    resp = engine.call("create_pit", index=engine.messages_pattern,
                       params={"keep_alive": keep_alive, "expand_wildcards": "open",
                               "request_timeout": 60})
    return resp["pit_id"]


def close_snapshot(engine: Engine, pit_id: str | None) -> None:
    """Release a PIT (best effort: an expired one is already gone)."""
    if not pit_id:
        return
    try:
        engine.call("delete_pit", body={"pit_id": [pit_id]}, params={"request_timeout": 30})
    except (NotFoundError, TransportError):
        pass


def _is_missing_context(exc: TransportError) -> bool:
    text = str(getattr(exc, "info", "")) + str(getattr(exc, "error", ""))
    return exc.status_code == 404 or "search_context_missing" in text or "No search context" in text


def _pit_search(engine: Engine, pit_id: str, body: dict, keep_alive: str, filter_path: str) -> dict:
    body = dict(body, pit={"id": pit_id, "keep_alive": keep_alive})
    try:
        return engine.call("transport.perform_request", "POST", "/_search", body=body,
                           params={"filter_path": filter_path, "request_timeout": REQUEST_TIMEOUT})
    except TransportError as exc:
        if _is_missing_context(exc):
            raise SnapshotExpired(str(exc)) from exc
        raise


def snapshot_alive(engine: Engine, pit_id: str | None, keep_alive: str = KEEP_ALIVE) -> bool:
    """True if the PIT still answers (and extends its keep-alive)."""
    if not pit_id:
        return False
    try:
        _pit_search(engine, pit_id, {"size": 0, "track_total_hits": False}, keep_alive, "took")
        return True
    except SnapshotExpired:
        return False
    except TransportError:
        return False


def upper_bound(engine: Engine, pit_id: str, query: dict,
                keep_alive: str = KEEP_ALIVE) -> tuple[int | None, int]:
    """(greatest message id matching ``query`` in the snapshot or None, how many match).
    The id comes from a sort value, which keeps a long exact (a max aggregation would go
    through a double and lose the low bits of a 64-bit id)."""
    body = {"query": query, "size": 1, "sort": [{"id": "desc"}], "_source": False,
            "track_total_hits": True}
    resp = _pit_search(engine, pit_id, body, keep_alive, "hits.total,hits.hits.sort")
    hits = resp.get("hits", {}).get("hits", [])
    total = resp.get("hits", {}).get("total", {}).get("value", 0)
    return (int(hits[0]["sort"][0]) if hits else None), total


def with_bound(query: dict, bound: int | None) -> dict:
    """``query`` narrowed to ids <= bound (the snapshot's messages, found again later)."""
    if bound is None:
        return {"bool": {"filter": [query], "must_not": [{"match_all": {}}]}}
    return {"bool": {"filter": [query, {"range": {"id": {"lte": bound}}}]}}


def chat_counts(engine: Engine, pit, query: dict, keep_alive: str = KEEP_ALIVE,
                after_chat: str | None = None, batch: int = 1000):
    """Yield (chat_id, matching messages) in chat_id order (the export's order), from a
    composite aggregation over the snapshot, ``batch`` chats per request, starting after
    ``after_chat``. ``pit`` is a callable giving the current PIT id."""
    after_key = {"chat": after_chat} if after_chat is not None else None
    while True:
        composite = {"size": batch, "sources": [{"chat": {"terms": {"field": "chat_id"}}}]}
        if after_key:
            composite["after"] = after_key
        body = {"query": query, "size": 0, "track_total_hits": False,
                "aggs": {"chats": {"composite": composite}}}
        resp = _pit_search(engine, pit(), body, keep_alive, "aggregations")
        agg = resp.get("aggregations", {}).get("chats", {})
        buckets = agg.get("buckets", [])
        for b in buckets:
            yield b["key"]["chat"], b["doc_count"]
        if len(buckets) < batch or not agg.get("after_key"):
            return
        after_key = agg["after_key"]


class Pages:
    """The snapshot's matching messages in (chat_id, id) order, one page (a list of
    ``_source`` dicts) at a time, continuing after the
    (chat_id, id) ``after``.

    A single search sorted by (chat_id, id) would visit every matching message of every
    chat for each page. Instead a composite aggregation lists the chats and how many
    messages each holds; consecutive small chats are fetched together (one request per
    ``size`` messages, sorted by chat_id then id), and a chat with more than ``size`` is
    paged alone, sorted by id with ``search_after`` (the engine skips ahead on the numeric
    sort). So each message is visited about once.

    ``workers`` requests run at once, at most ``ahead`` pages are fetched ahead of the
    caller (memory: ``ahead`` + 1 pages).
    If the PIT expires mid-way (a stalled consumer), ``reopen`` is called for a new
    snapshot id and query (the caller filters it by the recorded upper bound) and the walk
    continues from the last key fetched: no duplicates, no gaps.
    """

    def __init__(self, engine: Engine, pit_id: str, query: dict, *, after=None,
                 size: int = PAGE, keep_alive: str = KEEP_ALIVE, reopen=None,
                 source=SOURCE, workers: int = 2, ahead: int = 3):
        self.engine = engine
        self.pit_id = pit_id
        self.query = query
        self.after = list(after) if after else None
        self.size = size
        self.keep_alive = keep_alive
        self.reopen = reopen
        self.source = source
        self.workers = workers
        self.ahead = max(ahead, workers)

    def _reopen(self):
        if self.reopen is None:
            return False
        self.pit_id, self.query = self.reopen()
        return True

    # -- requests --------------------------------------------------------------------
    def _search(self, chats: list[str], sort: list, after, size: int) -> list[dict]:
        while True:
            body = {"query": {"bool": {"filter": [self.query, {"terms": {"chat_id": chats}}]}},
                    "size": size, "sort": sort, "track_total_hits": False, "_source": self.source}
            if after is not None:
                body["search_after"] = after
            try:
                resp = _pit_search(self.engine, self.pit_id, body, self.keep_alive,
                                   "pit_id,hits.hits._source")
            except SnapshotExpired:
                if not self._reopen():
                    raise
                continue
            self.pit_id = resp.get("pit_id", self.pit_id)
            return [h["_source"] for h in resp.get("hits", {}).get("hits", ())]

    def _counts(self):
        """(chat_id, count) from the chat of ``after`` (included) on."""
        first = self.after[0] if self.after else None
        last = None
        while True:
            query = self.query if first is None else \
                {"bool": {"filter": [self.query, {"range": {"chat_id": {"gte": first}}}]}}
            try:
                for chat_id, n in chat_counts(self.engine, lambda: self.pit_id, query,
                                              self.keep_alive, after_chat=last):
                    last = chat_id
                    yield chat_id, n
                return
            except SnapshotExpired:
                if not self._reopen():
                    raise

    def _plan(self):
        """Yield (chats, big): runs of small chats totalling <= size, or one big chat."""
        run, run_n = [], 0
        for chat_id, n in self._counts():
            if n > self.size:
                if run:
                    yield run, False
                    run, run_n = [], 0
                yield [chat_id], True
                continue
            if run and run_n + n > self.size:
                yield run, False
                run, run_n = [], 0
            run.append(chat_id)
            run_n += n
        if run:
            yield run, False

    def _units(self):
        """Yield (chats, sort, key, big) for the first request of each unit of the walk."""
        after = self.after
        for chats, big in self._plan():
            here = after is not None and chats[0] == after[0]
            if big:   # one chat: by id alone, the numeric sort skips what is before the key
                yield chats, [{"id": "asc"}], ([after[1]] if here else None), True
            else:
                yield chats, SORT, (list(after) if here else None), False

    # -- iteration -------------------------------------------------------------------
    def pages(self, limit: int | None = None):
        """Yield lists of sources, in order; at most ``limit`` messages in all (None: all).

        Requests run on a small pool (threads, or greenlets under gevent): the engine works
        on the next pages, on both cores, while this thread writes the current one. The
        next page of a big chat depends on the last id of the previous one, so it is asked
        for as soon as that page arrives; other units are fetched meanwhile."""
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="export-pages")
        inflight = collections.deque()   # (future, chats, sort, big), in output order
        units = self._units()
        remaining = limit

        def fill():
            while len(inflight) < self.ahead:
                unit = next(units, None)
                if unit is None:
                    return
                chats, sort, key, big = unit
                inflight.append((pool.submit(self._search, chats, sort, key, self.size), chats, sort, big))

        try:
            fill()
            while inflight and (remaining is None or remaining > 0):
                future, chats, sort, big = inflight.popleft()
                hits = future.result()
                if len(hits) >= self.size:   # more of this unit: ask for it next, at once
                    last = hits[-1]
                    key = [last["id"]] if big else [last["chat_id"], last["id"]]
                    inflight.appendleft((pool.submit(self._search, chats, sort, key, self.size),
                                         chats, sort, big))
                fill()
                if not hits:
                    continue
                if remaining is not None:
                    hits = hits[:remaining]
                    remaining -= len(hits)
                self.after = [hits[-1]["chat_id"], hits[-1]["id"]]
                yield hits
        finally:
            for future, *_ in inflight:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
