"""Full-text search over the messages indices: the engine query, and one ``_search`` per page.

chat/search.py decides WHAT may be found: it parses the user's query
(chat/search_query.py), resolves names and the chats the caller may see, and hands this
module a :class:`MessageQuery`, a plain description with no engine JSON in it. This module
decides HOW the engine is asked: the query clauses (mapping: index_templates/messages.json),
the permission filters every search carries, the index pattern, the sort, the snapshot
bound and search_after cursor, exact totals and highlighting.

Stable pages: every page of one search carries the same ``upper_id`` (no message newer than
the first page is ever returned, so arrivals do not shift later pages) and continues after
the previous page's last sort values. Scores do not drift between pages either: the
mapping's ``chat_tf`` similarity uses no collection statistics (index_templates/messages.json)
and the caller pins the recency origin. No point-in-time is kept: a message deleted or hidden
between two pages must disappear from the next one, which a frozen reader would not do.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from chatsvc.store.engine import Engine, read_preference

# Compliance fields never leave the engine through search.
_SOURCE_EXCLUDES = ["deleted_body", "hidden_log", "deleted_by", "deleted_at", "versions", "file_text"]
_PARAMS = {"ignore_unavailable": "true", "allow_no_indices": "true"}
MAX_ROUTING_CHATS = 100
   # beyond this, ask every shard rather than build a long routing list


# stemmed, unstemmed, code-ish tokens whole, and the parts of code-ish tokens (github of
# github.com/x, app of app.py, snake of snake_case): a part weighs less than a whole form.
TEXT_FIELDS = ["body", "body.exact", "body.code", "body.parts^0.3",
               # the names of a message's files and the text inside them (issue 14)
               "file_names", "file_names.exact", "file_names.code", "file_text^0.5", "file_text.exact^0.5"]
PHRASE_FIELD = "body.exact"
PREFIX_FIELD = "body.exact"
CJK_FIELD = "body.cjk"   # bigrams of Han, Hiragana, Katakana and Hangul (cjk_bigram)
# Words written in these scripts have no spaces between them: they are matched as phrases of
# bigrams (body.cjk) or of single characters (body.exact), so their characters stand together.
CJK_RE = re.compile("[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf"
                    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
# A message written before has_link existed (until `flask chatsvc reindex` ran over it):
# the code-ish tokens of its URLs start with the scheme.
LINK_PREFIXES = ("http://", "https://")
# What a message's author wrote, for the compliance export: for a message deleted for
# everyone (whose body is emptied) the original kept in deleted_body, indexed alike.
DELETED_TEXT_FIELDS = ["deleted_body", "deleted_body.exact", "deleted_body.code"]
DELETED_PHRASE_FIELD = "deleted_body.exact"
DELETED_PREFIX_FIELD = "deleted_body.exact"
RECENCY_SCALE = "30d"    # a hit this much older than another weighs DECAY times as much...
RECENCY_DECAY = 0.5
RECENCY_FLOOR = 0.25     # ...plus this floor, so strong old matches still surface


@dataclass(frozen=True)
class TextMatch:
    """Words and phrases that must all match, and those that must not. A word matches with
    all its tokens in one text field; a phrase by its unstemmed words, adjacent, in order."""
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded_words: tuple[str, ...] = ()
    excluded_phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()            # word* : some unstemmed word starts with it
    excluded_prefixes: tuple[str, ...] = ()

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases or self.prefixes)


@dataclass(frozen=True)
class MessageQuery:
    """One user's search, resolved. Every part narrows (AND). ``chat_ids``: the chats the
    viewer may see now, already narrowed by in:/with: (empty matches nothing).
    ``sender_ids``: any of them sent it (None: anyone). ``mine``: the viewer sent it;
    ``mentioned``: it mentions her. ``has_reaction``: any reaction, the like included;
    ``thread``: a thread reply or a root with replies; ``edited``: edited since sent.
    ``has_link``: its body holds a URL. ``excluded_sender_ids``: none of them sent it;
    ``excluded_flags``: names of the flags above (has_like, has_reaction, has_link, thread,
    edited, mentioned) it must NOT have; ``excluded_ranges``: (from, until) day ranges it
    must not fall in (either end may be None).
    Days are UTC: ``created_from`` inclusive, ``created_until`` exclusive. ``by_score``:
    rank by text score blended with recency around ``recency_origin`` (an RFC 3339 time,
    the same on every page of one search); otherwise newest first."""
    team_id: str
    viewer_id: str
    chat_ids: tuple[str, ...]
    text: TextMatch = TextMatch()
    sender_ids: tuple[str, ...] | None = None
    mine: bool = False
    mentioned: bool = False
    has_like: bool = False
    has_reaction: bool = False
    thread: bool = False
    edited: bool = False
    has_link: bool = False
    has_file: bool = False     # has:file / has:image: it carries files / a raster image
    has_image: bool = False
    excluded_sender_ids: tuple[str, ...] = ()
    excluded_flags: tuple[str, ...] = ()
    excluded_ranges: tuple[tuple[date | None, date | None], ...] = ()
    created_from: date | None = None
    created_until: date | None = None
    by_score: bool = False
    recency_origin: str = "now"


def _midnight(day: date) -> str:
    # isoformat, not strftime: "%Y" writes year 999 as "999", which the engine refuses
    # (a search for before:0999-01-01 was a 500).
    return datetime.combine(day, time(0), timezone.utc).isoformat().replace("+00:00", "Z")


def day_range(lower: date | None, upper: date | None) -> list:
    """A created_at filter for [lower 00:00Z, upper 00:00Z), or nothing when unbounded."""
    if not (lower or upper):
        return []
    bounds = {"gte": _midnight(lower)} if lower else {}
    bounds.update({"lt": _midnight(upper)} if upper else {})
    return [{"range": {"created_at": bounds}}]


def link_clause() -> dict:
    """has:link: the has_link flag computed when the message was written, or for a message
    from before that flag (no has_link field), a code-ish token starting with a URL scheme."""
    legacy = {"bool": {"must_not": [{"exists": {"field": "has_link"}}],
                       "filter": [{"bool": {"should": [{"prefix": {"body.code": p}} for p in LINK_PREFIXES],
                                            "minimum_should_match": 1}}]}}
    return {"bool": {"should": [{"term": {"has_link": True}}, legacy], "minimum_should_match": 1}}


def flag_clauses(*, has_like=False, has_reaction=False, thread=False, edited=False,
                 has_link=False, has_file=False, has_image=False) -> list:
    """Filters for has:like, has:reaction, is:thread, is:edited, has:link (shared with the export)."""
    out = []
    if has_like:
        out.append({"exists": {"field": "liked_by"}})
    if has_reaction:
        out.append({"bool": {"should": [{"exists": {"field": "liked_by"}},
                                        {"exists": {"field": "reactions.emoji"}}],
                             "minimum_should_match": 1}})
    if thread:
        out.append({"bool": {"should": [{"exists": {"field": "thread_id"}},
                                        {"range": {"reply_count": {"gt": 0}}}],
                             "minimum_should_match": 1}})
    if edited:
        out.append({"exists": {"field": "edited_at"}})
    if has_link:
        out.append(link_clause())
    if has_file:
        out.append({"term": {"has_file": True}})
    if has_image:
        out.append({"term": {"has_image": True}})
    return out


def cjk_clause(word: str, fields=(CJK_FIELD, PHRASE_FIELD)) -> dict:
    """A word in a script written without spaces (Chinese, Japanese, Korean): its characters
    together, in order, as a phrase of bigrams (北京 in 我在北京, 서울 in 서울에서) or of
    single characters (a one-character word); never scattered (北方的京城)."""
    return {"bool": {"should": [{"match_phrase": {f: {"query": word}}} for f in fields],
                     "minimum_should_match": 1}}


def word_clause(word: str, fields=TEXT_FIELDS) -> dict:
    """One word: all its tokens in at least one of body (stemmed: deploy ~ deployed),
    body.exact, body.code (foo_bar, v2.3.1, URLs whole), body.parts (github of github.com,
    weighing less); fields matching add up. A CJK word: see cjk_clause."""
    if CJK_RE.search(word):
        return cjk_clause(word)
    return {"multi_match": {"query": word, "fields": list(fields),
                            "type": "most_fields", "operator": "and"}}


def phrase_clause(phrase: str, field: str = PHRASE_FIELD) -> dict:
    """One phrase: its unstemmed words, adjacent and in order."""
    return {"match_phrase": {field: {"query": phrase}}}


def prefix_clause(prefix: str, field: str = PREFIX_FIELD) -> dict:
    """``word*``: an unstemmed word starting with it (analyzed like the field: case and
    accents folded; a prefix of several words wants the earlier ones whole). No expansion
    limit on the last word's prefix (match_bool_prefix rewrites it as one constant-score
    prefix query)."""
    return {"match_bool_prefix": {field: {"query": prefix, "operator": "and"}}}


def text_clauses(text: TextMatch, word=word_clause, phrase=phrase_clause,
                 prefix=prefix_clause) -> tuple[list, list]:
    """(must, must_not) for the words, phrases and prefixes."""
    must = ([word(w) for w in text.words] + [phrase(p) for p in text.phrases]
            + [prefix(p) for p in text.prefixes])
    must_not = ([word(w) for w in text.excluded_words] + [phrase(p) for p in text.excluded_phrases]
                + [prefix(p) for p in text.excluded_prefixes])
    return must, must_not


def _recency(query: dict, origin: str) -> dict:
    """Text score x (exp decay on created_at + floor): among similar matches newer wins."""
    decay = {"exp": {"created_at": {"origin": origin, "scale": RECENCY_SCALE,
                                    "decay": RECENCY_DECAY}}}
    return {"function_score": {"query": query,
                               "functions": [decay, {"weight": RECENCY_FLOOR}],
                               "score_mode": "sum", "boost_mode": "multiply"}}


def message_query(q: MessageQuery) -> dict:
    """The ``query`` clause for the messages indices. Permission clauses (team, chat_ids,
    not deleted for everyone, not hidden for the viewer) always come first in bool.filter /
    bool.must_not, never scored; words and phrases go in bool.must, exclusions in
    bool.must_not. ``by_score`` with text wraps the bool in a recency-blending
    function_score; otherwise the plain bool is returned (sort by id desc)."""
    filters = [{"term": {"team_id": q.team_id}}, {"terms": {"chat_id": list(q.chat_ids)}}]
    must_not = [{"term": {"deleted": True}}, {"term": {"hidden_for": q.viewer_id}}]
    if q.sender_ids is not None:
        filters.append({"terms": {"sender_id": list(q.sender_ids)}})
    if q.mine:
        filters.append({"term": {"sender_id": q.viewer_id}})
    if q.mentioned:
        filters.append({"term": {"mentions": q.viewer_id}})
    filters += flag_clauses(has_like=q.has_like, has_reaction=q.has_reaction, thread=q.thread,
                            edited=q.edited, has_link=q.has_link, has_file=q.has_file,
                            has_image=q.has_image)
    filters += day_range(q.created_from, q.created_until)
    excluded = []
    if q.excluded_sender_ids:
        excluded.append({"terms": {"sender_id": list(q.excluded_sender_ids)}})
    for flag in q.excluded_flags:
        if flag == "mentioned":
            excluded.append({"term": {"mentions": q.viewer_id}})
        else:
            excluded += flag_clauses(**{flag: True})
    for lower, upper in q.excluded_ranges:
        excluded += day_range(lower, upper)
    must, excluded_text = text_clauses(q.text)
    excluded += excluded_text
    boolean = {"filter": filters, "must_not": must_not + excluded}
    if must:
        boolean["must"] = must
    query = {"bool": boolean}
    return _recency(query, q.recency_origin) if must and q.by_score else query


def highlight_clause() -> dict:
    """The ``highlight`` clause: fragments of ``body`` with matches from body (stemmed) and
    body.exact (words, phrases) merged by the unified highlighter, which reads match offsets
    from the postings (both fields index offsets: cheaper to write and store than term
    vectors), each matched word wrapped in <mark>...</mark>, every other character HTML-escaped.
    Read them from hit["highlight"]["body"]; with no match there, the first ~150 characters."""
    return {
        "pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html",
        "require_field_match": True,
        "fields": {"body": {"type": "unified", "matched_fields": ["body", "body.exact"],
                            "fragment_size": 150, "number_of_fragments": 3,
                            "no_match_size": 150}},
    }


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


def search_messages(engine: Engine, q: MessageQuery, *, size: int, upper_id: int,
                    search_after: list | None = None, not_before: str | None = None) -> Page:
    """Up to ``size`` messages matching ``q`` with ``id <= upper_id``, after the sort
    values ``search_after`` (a previous page's last hit), highlighted. ``total`` counts
    every match under the bound (exactly: track_total_hits). The request goes only to the
    shards of the chats that can match. ``not_before`` (a time no match can precede, e.g.
    the oldest chat's creation) and the query's own date range let the engine skip whole
    monthly indices in its pre-filter (can_match) round, which works on date fields."""
    by_score = q.by_score and q.text.has_text
    query = message_query(q)
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
    body["highlight"] = highlight_clause()
    # One user's searches go to the same shard copies (issue 18): with replicas, copies
    # refresh at different moments, and a search on another copy could contradict the one
    # just before it. The preference names copies, not results: nothing else changes.
    params = dict(_PARAMS, pre_filter_shard_size="1", preference=read_preference(q.viewer_id))
    if q.chat_ids and len(q.chat_ids) <= MAX_ROUTING_CHATS:
        params["routing"] = ",".join(q.chat_ids)
    result = engine.call("search", index=engine.messages_pattern, body=body, params=params)
    hits = result["hits"]
    total = hits.get("total") or {"value": 0, "relation": "eq"}
    return Page(
        hits=[Hit(h["_source"], h.get("highlight", {}).get("body", []), h["sort"]) for h in hits["hits"]],
        total=int(total["value"]),
        total_exact=total.get("relation", "eq") == "eq")
