"""The search query language (PROTOCOL.md "Search") and the OpenSearch query built from it.

Pure logic: no engine, no store. ``parse_query`` turns the user's ``q`` into a
``SearchQuery``; the caller resolves usernames and chat visibility, then ``build_query``
makes the ``query`` clause for the messages indices (mapping: index_templates/messages.json)
and ``highlight_clause`` the ``highlight`` clause.

Syntax (terms combine with AND, separated by whitespace):
  word  "exact phrase"  -word  -"phrase"  from:<username>  in:<chat_id>  with:<username>
  before:YYYY-MM-DD  after:YYYY-MM-DD  on:YYYY-MM-DD  has:like  is:mine
Only the known operator names (any case) followed by ':' are operators; every other token,
``https://x.org/a``, ``12:30``, ``HTTP/2``, ``--force``, is a plain word kept intact.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from chatsvc.errors import BadRequest
from chatsvc.ids import parse_id

MAX_QUERY_CHARS = 1000
MAX_TERMS = 50
SORTS = ("relevance", "recent")

USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
OPERATOR_RE = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
OPERATORS = ("from", "in", "with", "before", "after", "on", "has", "is")
OPEN_QUOTES = '"\u201c\u201d'   # straight and typographic (phone keyboards) quotes
CLOSE_QUOTES = '"\u201c\u201d'

TEXT_FIELDS = ["body", "body.exact", "body.code"]   # stemmed, unstemmed, code-ish tokens
PHRASE_FIELD = "body.exact"
RECENCY_SCALE = "30d"    # a hit this much older than another weighs DECAY times as much...
RECENCY_DECAY = 0.5
RECENCY_FLOOR = 0.25     # ...plus this floor, so strong old matches still surface


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query. Every part narrows the result (AND); within ``from_users`` and
    ``in_chats`` any listed value matches (OR); every ``with_users`` user must be in the chat.
    Dates are UTC days. ``in_chats`` holds normalized decimal chat ids; usernames are as
    typed, without a leading ``@``. Tuples keep first-seen order with duplicates dropped."""
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded_words: tuple[str, ...] = ()
    excluded_phrases: tuple[str, ...] = ()
    from_users: tuple[str, ...] = ()
    in_chats: tuple[str, ...] = ()
    with_users: tuple[str, ...] = ()
    before: date | None = None
    after: date | None = None
    on: date | None = None
    has_like: bool = False
    is_mine: bool = False

    @property
    def has_text(self) -> bool:
        """True when some word or phrase must match (and so relevance scoring means something)."""
        return bool(self.words or self.phrases)


# ---------------------------------------------------------------------------- parsing

def _bad(detail: str) -> BadRequest:
    """The one error of this module: 400 bad_request with the detail under fields.q."""
    return BadRequest(f"invalid search query: {detail}", fields={"q": detail})


def _tokenize(text: str) -> list[tuple[str, bool, bool]]:
    """Split ``text`` into (token, quoted, negated) triples. A quote opens a phrase only at
    the start of a token, or right after a leading '-' (``-"a b"`` is ('a b', True, True)).
    Quotes inside a bare word are ordinary characters; a bare token comes back whole with
    negated=False (``_term`` reads its '-'). An unclosed phrase is a bad_request."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        neg = text[i] == "-" and i + 1 < n and text[i + 1] in OPEN_QUOTES
        if text[i] in OPEN_QUOTES or neg:
            start = i + 1 + neg
            end = next((j for j in range(start, n) if text[j] in CLOSE_QUOTES), -1)
            if end < 0:
                raise _bad('unclosed quote (")')
            tokens.append((text[start:end], True, neg))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append((text[i:j], False, False))
        i = j
    return tokens


def _parse_username(op: str, value: str) -> str:
    """``from:``/``with:`` value: 1..32 of [A-Za-z0-9_.-], one leading '@' stripped."""
    name = value[1:] if value.startswith("@") else value
    if not USERNAME_RE.fullmatch(name):
        raise _bad(f"{op}: needs a username (1-32 of A-Z a-z 0-9 _ . -), got {value!r}")
    return name


def _parse_chat_id(op: str, value: str) -> str:
    """``in:`` value: a positive decimal chat id, returned normalized (no leading zeros)."""
    number = parse_id(value) if value.isascii() and value.isdigit() else None
    if number is None:
        raise _bad(f"{op}: needs a chat id (a positive decimal number), got {value!r}")
    return str(number)


def _parse_date(op: str, value: str) -> date:
    """``before:``/``after:``/``on:`` value: a real calendar day written YYYY-MM-DD."""
    try:
        if not DATE_RE.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
        if day == date.max:   # after:9999-12-31 would start on a day that does not exist
            raise ValueError
        return day
    except ValueError:
        raise _bad(f"{op}: needs a date YYYY-MM-DD, got {value!r}") from None


def _parse_flag(op: str, value: str, allowed: str) -> None:
    """``has:like`` / ``is:mine``: the only value each accepts (any case)."""
    if value.lower() != allowed:
        raise _bad(f"{op}: only accepts {op}:{allowed}, got {value!r}")


class _Builder:
    """Accumulates terms while parsing; ``result`` checks the whole and freezes it."""

    def __init__(self):
        self.lists = {name: [] for name in (
            "words", "phrases", "excluded_words", "excluded_phrases",
            "from_users", "in_chats", "with_users")}
        self.dates = {"before": [], "after": [], "on": []}
        self.flags = {"has_like": False, "is_mine": False}

    def add(self, name: str, value: str) -> None:
        if value not in self.lists[name]:
            self.lists[name].append(value)

    def operator(self, op: str, value: str) -> None:
        """Record one ``op:value`` term (``op`` already lowercased and known)."""
        if op in ("from", "with"):
            self.add(f"{op}_users", _parse_username(op, value))
        elif op == "in":
            self.add("in_chats", _parse_chat_id(op, value))
        elif op in self.dates:
            self.dates[op].append(_parse_date(op, value))
        elif op == "has":
            _parse_flag(op, value, "like")
            self.flags["has_like"] = True
        else:
            _parse_flag(op, value, "mine")
            self.flags["is_mine"] = True

    def result(self) -> SearchQuery:
        ons = set(self.dates["on"])
        if len(ons) > 1:
            raise _bad("on: given two different days, nothing can match")
        query = SearchQuery(
            **{name: tuple(values) for name, values in self.lists.items()},
            before=min(self.dates["before"], default=None),
            after=max(self.dates["after"], default=None),
            on=next(iter(ons), None), **self.flags)
        lower, upper = date_bounds(query)
        if lower is not None and upper is not None and lower >= upper:
            raise _bad("before:/after:/on: leave an empty date range, nothing can match")
        return query


def _phrase(builder: _Builder, phrase: str, negated: bool) -> None:
    """Record a quoted phrase (blank ones are a bad_request)."""
    if not phrase.strip():
        raise _bad('empty phrase ("")')
    builder.add("excluded_phrases" if negated else "phrases", phrase)


def _term(builder: _Builder, token: str) -> None:
    """Classify one bare token: operator, excluded word (``-x``, but ``--x`` is a word), or word."""
    negated = len(token) > 1 and token[0] == "-" and token[1] != "-"
    body = token[1:] if negated else token
    match = OPERATOR_RE.fullmatch(body)
    if match and match.group(1).lower() in OPERATORS:
        op = match.group(1).lower()
        if negated:
            raise _bad(f"{op}: cannot be negated with '-'")
        builder.operator(op, match.group(2))
    elif token == "-":
        raise _bad("'-' needs a word or a quoted phrase right after it")
    else:
        builder.add("excluded_words" if negated else "words", body)


def parse_query(text: str) -> SearchQuery:
    """Parse the ``q`` of GET /api/search into a SearchQuery.

    Raises BadRequest (code bad_request, fields={"q": ...}) naming the operator at fault for:
    an empty query, more than 1,000 characters or 50 terms, an unclosed quote or empty
    phrase, a lone '-', a negated operator (``-from:x``), a bad username (from:/with:), a
    non-numeric chat id (in:), a bad date (before:/after:/on:), a value other than ``like``
    for has: or ``mine`` for is:, and date operators leaving an empty range.
    Repeated before:/after: keep the tightest day; repeated on: must agree.
    ``-word`` excludes; ``--word`` (a CLI flag, say) is a plain word.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise _bad(f"longer than {MAX_QUERY_CHARS} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise _bad("empty query")
    if len(tokens) > MAX_TERMS:
        raise _bad(f"more than {MAX_TERMS} terms")
    builder = _Builder()
    for token, quoted, negated in tokens:
        if quoted:
            _phrase(builder, token, negated)
        else:
            _term(builder, token)
    return builder.result()


# ---------------------------------------------------------------------------- building

def date_bounds(q: SearchQuery) -> tuple[date | None, date | None]:
    """The UTC days [lower, upper) that created_at must fall in: lower is inclusive at
    00:00Z, upper exclusive at 00:00Z; None means unbounded. after:D starts the day after D,
    before:D ends at D's start, on:D is [D, D+1)."""
    lowers = [d for d in (q.on, q.after and q.after + timedelta(days=1)) if d]
    uppers = [d for d in (q.on and q.on + timedelta(days=1), q.before) if d]
    return max(lowers, default=None), min(uppers, default=None)


def _midnight(day: date) -> str:
    return datetime.combine(day, time(0), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _permission_clauses(team_id: str, user_id: str, chat_ids: list[str]) -> tuple[list, list]:
    """(filter, must_not) every search carries: the caller's team, chats visible to the caller
    now, not deleted for everyone, not hidden by the caller. An empty chat_ids matches nothing."""
    return ([{"term": {"team_id": team_id}}, {"terms": {"chat_id": list(chat_ids)}}],
            [{"term": {"deleted": True}}, {"term": {"hidden_for": user_id}}])


def _operator_filters(q: SearchQuery, user_id: str, sender_ids, with_chat_ids) -> list:
    """Filter clauses for from:, with:, is:mine, has:like and the date range."""
    if q.from_users and sender_ids is None:
        raise ValueError("from: given but sender_ids not resolved")
    if q.with_users and with_chat_ids is None:
        raise ValueError("with: given but with_chat_ids not resolved")
    out = []
    if sender_ids is not None:
        out.append({"terms": {"sender_id": list(sender_ids)}})
    if with_chat_ids is not None:
        out.append({"terms": {"chat_id": list(with_chat_ids)}})
    if q.is_mine:
        out.append({"term": {"sender_id": user_id}})
    if q.has_like:
        out.append({"exists": {"field": "liked_by"}})
    lower, upper = date_bounds(q)
    if lower or upper:
        bounds = {"gte": _midnight(lower)} if lower else {}
        bounds.update({"lt": _midnight(upper)} if upper else {})
        out.append({"range": {"created_at": bounds}})
    return out


def word_clause(word: str, fields=TEXT_FIELDS) -> dict:
    """One word: all its tokens in at least one of body (stemmed: deploy ~ deployed),
    body.exact, body.code (foo_bar, v2.3.1, URLs whole); fields matching add up."""
    return {"multi_match": {"query": word, "fields": list(fields),
                            "type": "most_fields", "operator": "and"}}


def phrase_clause(phrase: str, field: str = PHRASE_FIELD) -> dict:
    """One phrase: its unstemmed words, adjacent and in order."""
    return {"match_phrase": {field: {"query": phrase}}}


def _recency(query: dict) -> dict:
    """Text score x (exp decay on created_at + floor): among similar matches newer wins."""
    decay = {"exp": {"created_at": {"origin": "now", "scale": RECENCY_SCALE,
                                    "decay": RECENCY_DECAY}}}
    return {"function_score": {"query": query,
                               "functions": [decay, {"weight": RECENCY_FLOOR}],
                               "score_mode": "sum", "boost_mode": "multiply"}}


def build_query(q: SearchQuery, *, team_id: str, user_id: str, chat_ids: list[str],
                sender_ids: list[str] | None, with_chat_ids: list[str] | None,
                sort: str) -> dict:
    """The ``query`` clause for the messages indices.

    The caller has resolved names and visibility: ``chat_ids`` are the chats the caller may
    see (already intersected with in:), ``sender_ids`` the ids of the from: users (None
    without from:), ``with_chat_ids`` the chats holding every with: user (None without with:).
    Permission clauses (team, chat_ids, not deleted, not hidden for user_id) are always in
    bool.filter / bool.must_not, never scored. Words and phrases go in bool.must, exclusions in
    bool.must_not. sort="relevance" with text wraps the bool in a recency-blending
    function_score; otherwise (sort="recent", or no text) the plain bool is returned and the
    caller should sort by id desc. Raises BadRequest for an unknown sort, ValueError when
    from:/with: were given without their resolved ids (a caller bug).
    """
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}",
                         fields={"sort": "relevance or recent"})
    filters, must_not = _permission_clauses(team_id, user_id, chat_ids)
    filters += _operator_filters(q, user_id, sender_ids, with_chat_ids)
    must_not += [word_clause(w) for w in q.excluded_words]
    must_not += [phrase_clause(p) for p in q.excluded_phrases]
    boolean = {"filter": filters, "must_not": must_not}
    if q.has_text:
        boolean["must"] = [word_clause(w) for w in q.words] + [phrase_clause(p) for p in q.phrases]
    query = {"bool": boolean}
    return _recency(query) if q.has_text and sort == "relevance" else query


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
