"""The search query language (PROTOCOL.md "Search").

Pure logic: no engine, no store. ``parse_query`` turns the user's ``q`` into a
``SearchQuery``, a plain model of what was asked; chat/search.py resolves its usernames
and chats, and store/search.py turns the result into the engine's query.

Syntax (terms combine with AND, separated by whitespace):
  word  "exact phrase"  -word  -"phrase"  from:<username>  in:<chat_id>  with:<username>
  before:YYYY-MM-DD  after:YYYY-MM-DD  on:YYYY-MM-DD  has:like|reaction
  is:mine|mentioned|thread|edited
Only the known operator names (any case) followed by ':' are operators; every other token,
``https://x.org/a``, ``12:30``, ``HTTP/2``, ``--force``, is a plain word kept intact.
"""
import re
from dataclasses import dataclass
from datetime import date, timedelta

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
    has_reaction: bool = False
    is_mentioned: bool = False
    is_thread: bool = False
    is_edited: bool = False

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


# The values of has: and is: (any case), and the SearchQuery flag each sets.
FLAGS = {"has": {"like": "has_like", "reaction": "has_reaction"},
         "is": {"mine": "is_mine", "mentioned": "is_mentioned", "thread": "is_thread",
                "edited": "is_edited"}}


def _parse_flag(op: str, value: str) -> str:
    """The SearchQuery flag of ``has:value`` / ``is:value``."""
    flag = FLAGS[op].get(value.lower())
    if flag is None:
        allowed = ", ".join(f"{op}:{v}" for v in FLAGS[op])
        raise _bad(f"{op}: only accepts {allowed}, got {value!r}")
    return flag


class _Builder:
    """Accumulates terms while parsing; ``result`` checks the whole and freezes it."""

    def __init__(self):
        self.lists = {name: [] for name in (
            "words", "phrases", "excluded_words", "excluded_phrases",
            "from_users", "in_chats", "with_users")}
        self.dates = {"before": [], "after": [], "on": []}
        self.flags = {flag: False for values in FLAGS.values() for flag in values.values()}

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
        else:   # has: or is:
            self.flags[_parse_flag(op, value)] = True

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
    non-numeric chat id (in:), a bad date (before:/after:/on:), a value has: or is: does not
    take (see FLAGS), and date operators leaving an empty range.
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


# ---------------------------------------------------------------------------- date range

def date_bounds(q: SearchQuery) -> tuple[date | None, date | None]:
    """The UTC days [lower, upper) that created_at must fall in: lower is inclusive at
    00:00Z, upper exclusive at 00:00Z; None means unbounded. after:D starts the day after D,
    before:D ends at D's start, on:D is [D, D+1)."""
    lowers = [d for d in (q.on, q.after and q.after + timedelta(days=1)) if d]
    uppers = [d for d in (q.on and q.on + timedelta(days=1), q.before) if d]
    return max(lowers, default=None), min(uppers, default=None)
