"""The search query language (PROTOCOL.md "Search").

Pure logic: no engine, no store. ``parse_query`` turns the user's ``q`` into a
``SearchQuery``, a plain model of what was asked; chat/search.py resolves its usernames
and chats, and store/search.py turns the result into the engine's query.

Syntax (terms combine with AND, separated by whitespace):
  word  word*  "exact phrase"  -word  -word*  -"phrase"
  from:<username>|me  in:<chat_id>|<chat title>|"<chat title>"|@<username>  with:<username>
  before:YYYY-MM-DD  after:YYYY-MM-DD  on:YYYY-MM-DD  during:YYYY-MM|YYYY
  has:like|reaction|link|file|image  is:mine|mentioned|thread|edited
  and any operator negated with a leading '-' (``-from:bob``, ``-in:"release v2"``).
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
MAX_TITLE_CHARS = 200
MIN_PREFIX_CHARS = 2
SORTS = ("relevance", "recent")

USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
YEAR_RE = re.compile(r"\d{4}")
OPERATOR_RE = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
OPERATORS = ("from", "in", "with", "before", "after", "on", "during", "has", "is")
OPEN_QUOTES = '"\u201c\u201d'   # straight and typographic (phone keyboards) quotes
CLOSE_QUOTES = '"\u201c\u201d'
QUOTED_OPERATOR_RE = re.compile(r"(-?)([A-Za-z]+):[\"\u201c\u201d]")
DATE_OPERATORS = ("before", "after", "on", "during")

# The values of has: and is: (any case), and the SearchQuery flag each sets.
FLAGS = {"has": {"like": "has_like", "reaction": "has_reaction", "link": "has_link",
                 "file": "has_file", "image": "has_image"},
         "is": {"mine": "is_mine", "mentioned": "is_mentioned", "thread": "is_thread",
                "edited": "is_edited"}}
# Accepted by the language, answered 400 until the feature exists (PROTOCOL.md "Search").
NOT_YET: dict = {}

DateRange = tuple  # (lower inclusive | None, upper exclusive | None), UTC days


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query. Every part narrows the result (AND); within ``from_users`` and the
    in: lists any listed value matches (OR); every ``with_users`` user must be in the chat.
    ``excluded_*`` parts each remove what they match. Dates are UTC days. ``in_chats`` holds
    normalized decimal chat ids, ``in_titles`` chat titles as typed (matched ignoring case),
    ``in_direct`` usernames whose direct chat with the caller is meant; usernames are as
    typed, without a leading ``@``; ``from_me``: ``from:me``. ``prefixes``: ``word*`` without
    the star. ``during``: the [first day, day after the last) of during:, intersected when
    repeated. ``excluded_ranges``: one (lower, upper) day range per negated date operator;
    ``excluded_flags``: the flag names (see FLAGS) of negated has:/is:. Tuples keep
    first-seen order with duplicates dropped."""
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded_words: tuple[str, ...] = ()
    excluded_phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    excluded_prefixes: tuple[str, ...] = ()
    from_users: tuple[str, ...] = ()
    from_me: bool = False
    in_chats: tuple[str, ...] = ()
    in_titles: tuple[str, ...] = ()
    in_direct: tuple[str, ...] = ()
    with_users: tuple[str, ...] = ()
    before: date | None = None
    after: date | None = None
    on: date | None = None
    during: DateRange | None = None
    has_like: bool = False
    is_mine: bool = False
    has_reaction: bool = False
    has_link: bool = False
    has_file: bool = False
    has_image: bool = False
    is_mentioned: bool = False
    is_thread: bool = False
    is_edited: bool = False
    excluded_from_users: tuple[str, ...] = ()
    excluded_from_me: bool = False
    excluded_in_chats: tuple[str, ...] = ()
    excluded_in_titles: tuple[str, ...] = ()
    excluded_in_direct: tuple[str, ...] = ()
    excluded_with_users: tuple[str, ...] = ()
    excluded_ranges: tuple[DateRange, ...] = ()
    excluded_flags: tuple[str, ...] = ()

    @property
    def has_text(self) -> bool:
        """True when some word, prefix or phrase must match (so relevance scoring means something)."""
        return bool(self.words or self.phrases or self.prefixes)

    @property
    def negates_operators(self) -> bool:
        """True when some operator was negated (``-from:x``, ``-has:like``...)."""
        return bool(self.excluded_from_users or self.excluded_from_me or self.excluded_in_chats
                    or self.excluded_in_titles or self.excluded_in_direct
                    or self.excluded_with_users or self.excluded_ranges or self.excluded_flags)


# ---------------------------------------------------------------------------- parsing

def _bad(detail: str) -> BadRequest:
    """The one error of this module: 400 bad_request with the detail under fields.q."""
    return BadRequest(f"invalid search query: {detail}", fields={"q": detail})


@dataclass(frozen=True)
class _Token:
    text: str              # a bare token as typed, a phrase's inner text, or an operator's value
    kind: str = "bare"     # "bare" | "phrase" | "operator" (an operator with a quoted value)
    negated: bool = False  # for phrases and quoted operators; a bare token keeps its '-'
    op: str = ""           # the operator name (lowercase) of kind "operator"


def _close(text: str, start: int) -> int:
    return next((j for j in range(start, len(text)) if text[j] in CLOSE_QUOTES), -1)


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens. A quote opens a phrase only at the start of a token, or
    right after a leading '-' (``-"a b"`` is a negated phrase), or right after a known
    operator's ':' (``in:"release v2"``, ``-in:"x y"``). Quotes inside a bare word are
    ordinary characters; a bare token comes back whole (``_term`` reads its '-'). An
    unclosed quote is a bad_request."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        neg = text[i] == "-" and i + 1 < n and text[i + 1] in OPEN_QUOTES
        if text[i] in OPEN_QUOTES or neg:
            start = i + 1 + neg
            end = _close(text, start)
            if end < 0:
                raise _bad('unclosed quote (")')
            tokens.append(_Token(text[start:end], "phrase", neg))
            i = end + 1
            continue
        quoted_op = QUOTED_OPERATOR_RE.match(text, i)
        if quoted_op and quoted_op.group(2).lower() in OPERATORS:
            op = quoted_op.group(2).lower()
            end = _close(text, quoted_op.end())
            if end < 0:
                raise _bad(f'{op}: unclosed quote (")')
            tokens.append(_Token(text[quoted_op.end():end], "operator", bool(quoted_op.group(1)), op))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(_Token(text[i:j]))
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


def _parse_in(value: str, quoted: bool) -> tuple[str, str]:
    """``in:`` value as (kind, value): ("direct", username) for ``@name``, ("chat", id) for
    ASCII digits, else ("title", title). A quoted value is always a title."""
    if quoted:
        title = " ".join(value.split())
        if not title:
            raise _bad('in: needs a chat title inside the quotes, got ""')
        if len(title) > MAX_TITLE_CHARS:
            raise _bad(f"in: a chat title is at most {MAX_TITLE_CHARS} characters")
        return "title", title
    if value.startswith("@"):
        name = value[1:]
        if not USERNAME_RE.fullmatch(name):
            raise _bad(f"in:@ needs a username (1-32 of A-Z a-z 0-9 _ . -), got {value!r}")
        return "direct", name
    if not value:
        raise _bad('in: needs a chat id, a chat title (in:"two words") or @username, got nothing')
    if value.isascii() and value.isdigit():
        return "chat", _parse_chat_id("in:", value)
    if len(value) > MAX_TITLE_CHARS:
        raise _bad(f"in: a chat title is at most {MAX_TITLE_CHARS} characters")
    return "title", value


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


def _parse_during(value: str) -> DateRange:
    """``during:`` value: a month YYYY-MM or a year YYYY, as [first day, day after last)."""
    try:
        month = MONTH_RE.fullmatch(value)
        if month:
            year, mon = int(month.group(1)), int(month.group(2))
            start = date(year, mon, 1)
            return start, (date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1))
        if YEAR_RE.fullmatch(value):
            return date(int(value), 1, 1), date(int(value) + 1, 1, 1)
    except ValueError:
        pass
    raise _bad(f"during: needs a month YYYY-MM or a year YYYY, got {value!r}")


def _day_range(op: str, value: str) -> DateRange:
    """The [lower, upper) days a date operator keeps."""
    if op == "during":
        return _parse_during(value)
    day = _parse_date(f"{op}:", value)
    return {"before": (None, day), "after": (day + timedelta(days=1), None),
            "on": (day, day + timedelta(days=1))}[op]


def _parse_flag(op: str, value: str) -> str:
    """The SearchQuery flag of ``has:value`` / ``is:value``."""
    key = value.lower()
    flag = FLAGS[op].get(key)
    if flag is None:
        missing = NOT_YET.get(op, {}).get(key)
        if missing:
            raise _bad(f"{op}:{key} is not available yet: this server does not keep {missing}")
        allowed = ", ".join(f"{op}:{v}" for v in FLAGS[op])
        raise _bad(f"{op}: only accepts {allowed}, got {value!r}")
    return flag


class _Builder:
    """Accumulates terms while parsing; ``result`` checks the whole and freezes it."""

    LISTS = ("words", "phrases", "excluded_words", "excluded_phrases", "prefixes",
             "excluded_prefixes", "from_users", "in_chats", "in_titles", "in_direct", "with_users",
             "excluded_from_users", "excluded_in_chats", "excluded_in_titles",
             "excluded_in_direct", "excluded_with_users", "excluded_ranges", "excluded_flags")

    def __init__(self):
        self.lists = {name: [] for name in self.LISTS}
        self.dates = {"before": [], "after": [], "on": [], "during": []}
        self.flags = {flag: False for values in FLAGS.values() for flag in values.values()}
        self.me = {"from_me": False, "excluded_from_me": False}

    def add(self, name: str, value) -> None:
        if value not in self.lists[name]:
            self.lists[name].append(value)

    def operator(self, op: str, value: str, negated: bool = False, quoted: bool = False) -> None:
        """Record one ``op:value`` term (``op`` already lowercased and known)."""
        pre = "excluded_" if negated else ""
        if op in ("from", "with") and quoted:
            raise _bad(f"{op}: needs a username (1-32 of A-Z a-z 0-9 _ . -), got {value!r}")
        if op == "from" and value.lower() in ("me", "@me"):
            self.me[f"{pre}from_me"] = True
        elif op in ("from", "with"):
            self.add(f"{pre}{op}_users", _parse_username(f"{op}:", value))
        elif op == "in":
            kind, parsed = _parse_in(value, quoted)
            self.add(pre + {"chat": "in_chats", "title": "in_titles", "direct": "in_direct"}[kind],
                     parsed)
        elif op in DATE_OPERATORS:
            if negated:
                self.add("excluded_ranges", _day_range(op, value))
            elif op == "during":
                self.dates[op].append(_parse_during(value))
            else:
                self.dates[op].append(_parse_date(f"{op}:", value))
        else:   # has: or is:
            flag = _parse_flag(op, value)
            if negated:
                self.add("excluded_flags", flag)
            else:
                self.flags[flag] = True

    def result(self) -> SearchQuery:
        ons = set(self.dates["on"])
        if len(ons) > 1:
            raise _bad("on: given two different days, nothing can match")
        during = None
        if self.dates["during"]:
            during = (max(lo for lo, _ in self.dates["during"]),
                      min(hi for _, hi in self.dates["during"]))
            if during[0] >= during[1]:
                raise _bad("during: given two periods that do not overlap, nothing can match")
        query = SearchQuery(
            **{name: tuple(values) for name, values in self.lists.items()},
            before=min(self.dates["before"], default=None),
            after=max(self.dates["after"], default=None),
            on=next(iter(ons), None), during=during, **self.flags, **self.me)
        lower, upper = date_bounds(query)
        if lower is not None and upper is not None and lower >= upper:
            raise _bad("before:/after:/on:/during: leave an empty date range, nothing can match")
        return query


def _phrase(builder: _Builder, phrase: str, negated: bool) -> None:
    """Record a quoted phrase (blank ones are a bad_request)."""
    if not phrase.strip():
        raise _bad('empty phrase ("")')
    builder.add("excluded_phrases" if negated else "phrases", phrase)


def _word(builder: _Builder, word: str, negated: bool) -> None:
    """A word, or a prefix ``word*`` (at least MIN_PREFIX_CHARS before the star)."""
    pre = "excluded_" if negated else ""
    if not word.endswith("*"):
        builder.add(f"{pre}words", word)
        return
    stem = word.rstrip("*")
    if not stem:
        raise _bad(f"a lone '*' matches everything: put at least {MIN_PREFIX_CHARS} characters "
                   "before it (depl*)")
    if len(stem) < MIN_PREFIX_CHARS:
        raise _bad(f"'*' (prefix search) needs at least {MIN_PREFIX_CHARS} characters before it, "
                   f"got {word!r}")
    builder.add(f"{pre}prefixes", stem)


def _term(builder: _Builder, token: str) -> None:
    """Classify one bare token: operator (``-op:x`` negates it), excluded word (``-x``, but
    ``--x`` is a word), prefix (``x*``) or word."""
    negated = len(token) > 1 and token[0] == "-" and token[1] != "-"
    body = token[1:] if negated else token
    match = OPERATOR_RE.fullmatch(body)
    if match and match.group(1).lower() in OPERATORS:
        builder.operator(match.group(1).lower(), match.group(2), negated)
    elif token == "-":
        raise _bad("'-' needs a word, an operator or a quoted phrase right after it")
    else:
        _word(builder, body, negated)


def parse_query(text: str) -> SearchQuery:
    """Parse the ``q`` of GET /api/search into a SearchQuery.

    Raises BadRequest (code bad_request, fields={"q": ...}) naming the operator at fault for:
    an empty query, more than 1,000 characters or 50 terms, an unclosed quote or empty
    phrase, a lone '-', a lone '*' or a prefix shorter than 2 characters, a bad username
    (from:/with:), a bad in: value, a bad date (before:/after:/on:/during:), a value has: or
    is: does not take (see FLAGS), and date
    operators leaving an empty range. Any operator may be negated with '-'.
    Repeated before:/after: keep the tightest day; repeated on: must agree; repeated
    during: intersect. ``-word`` excludes; ``--word`` (a CLI flag, say) is a plain word.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise _bad(f"longer than {MAX_QUERY_CHARS} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise _bad("empty query")
    if len(tokens) > MAX_TERMS:
        raise _bad(f"more than {MAX_TERMS} terms")
    builder = _Builder()
    for token in tokens:
        if token.kind == "phrase":
            _phrase(builder, token.text, token.negated)
        elif token.kind == "operator":
            builder.operator(token.op, token.text, token.negated, quoted=True)
        else:
            _term(builder, token.text)
    return builder.result()


# ---------------------------------------------------------------------------- date range

def date_bounds(q: SearchQuery) -> tuple[date | None, date | None]:
    """The UTC days [lower, upper) that created_at must fall in: lower is inclusive at
    00:00Z, upper exclusive at 00:00Z; None means unbounded. after:D starts the day after D,
    before:D ends at D's start, on:D is [D, D+1), during: its month or year."""
    during = q.during or (None, None)
    lowers = [d for d in (q.on, q.after and q.after + timedelta(days=1), during[0]) if d]
    uppers = [d for d in (q.on and q.on + timedelta(days=1), q.before, during[1]) if d]
    return max(lowers, default=None), min(uppers, default=None)
