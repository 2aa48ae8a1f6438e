"""The export's filters: checked before anything is read, then resolved against the team
into an :class:`~chatsvc.store.export.ExportMatch` (store/export.py makes the engine query).

  --team   team name (any case) or team id; required
  --since  a day YYYY-MM-DD (from its 00:00Z) or an RFC 3339 timestamp (inclusive)
  --until  a day YYYY-MM-DD (through its end, 24:00Z) or an RFC 3339 timestamp (inclusive)
  --chat   a chat id of the team; repeatable (any of them)
  --user   a username of the team; repeatable: the chats each was ever a member of (current
           or former), which hold everything they sent
  --query  PROTOCOL.md's search language, without the per-user visibility rules: deleted and
           hidden messages are searched too, a message deleted for everyone by what its
           author wrote (kept, and indexed, as deleted_body). is:mine has no meaning here;
           from:/with: name users of the team; in: a chat of the team.
  --hold   a legal hold of the team by name (active or released): the messages it covers,
           i.e. those of its chats and those its users sent
Every filter narrows the export (AND); repeated --chat or --user widen within their kind (OR).
"""
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from chatsvc.errors import BadRequest
from chatsvc.chat.search_query import SearchQuery, date_bounds, parse_query
from chatsvc.export.errors import bad_filter
from chatsvc.ids import parse_id
from chatsvc.store.export import ExportMatch
from chatsvc.store.search import TextMatch

DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
STAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Filters:
    """The filters as the operator gave them (recorded in the manifest and the resume state)."""
    team: str
    since: str | None = None
    until: str | None = None
    chats: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    query: str | None = None
    hold: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["chats"], d["users"] = list(self.chats), list(self.users)
        if d["hold"] is None:   # recorded only when given
            del d["hold"]
        return d


@dataclass
class Checked:
    """Filters after the syntax checks that need no engine."""
    since: datetime | None = None   # inclusive
    until: datetime | None = None   # inclusive if until_inclusive, else exclusive
    until_inclusive: bool = True
    chat_ids: tuple[str, ...] = ()
    search: SearchQuery | None = None


@dataclass
class Scope:
    """Filters resolved against the team: what to match and the chats in scope."""
    match: ExportMatch
    chat_ids: list[str] = field(default_factory=list)   # sorted as the export walks them


def _parse_moment(option: str, value: str) -> tuple[datetime, bool]:
    """(moment, is_day) for --since/--until."""
    text = value.strip()
    try:
        if DAY_RE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time(0), timezone.utc), True
        if STAMP_RE.fullmatch(text):
            stamp = text.replace("z", "Z").replace("t", "T")
            # fromisoformat takes at most microseconds: trim nanoseconds.
            stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc), False
    except ValueError:
        pass
    raise bad_filter(f"{option} {value!r}: expected a date YYYY-MM-DD or an RFC 3339 timestamp "
                     "such as 2026-11-30T09:15:02Z or 2026-11-30T10:15:02+01:00")


def check(filters: Filters) -> Checked:
    """Everything that can be checked without the engine; raises ExportError (exit 2)."""
    out = Checked()
    if not filters.team or not filters.team.strip():
        raise bad_filter("--team is required: a team name or id")
    if filters.since:
        out.since, _ = _parse_moment("--since", filters.since)
    if filters.until:
        until, is_day = _parse_moment("--until", filters.until)
        # A day means through its end: everything before the next day's 00:00Z.
        out.until, out.until_inclusive = (until + timedelta(days=1), False) if is_day else (until, True)
    if out.since and out.until and (out.since > out.until or
                                    (out.since == out.until and not out.until_inclusive)):
        raise bad_filter(f"--since {filters.since} is after --until {filters.until}: nothing to export")
    ids = []
    for raw in filters.chats:
        number = parse_id(raw.strip())
        if number is None:
            raise bad_filter(f"--chat {raw!r}: expected a chat id (a positive decimal number)")
        ids.append(str(number))
    out.chat_ids = tuple(dict.fromkeys(ids))
    for name in filters.users:
        if not name.strip():
            raise bad_filter("--user needs a username")
    if filters.hold is not None and not filters.hold.strip():
        raise bad_filter("--hold needs the name of a legal hold")
    if filters.query is not None:
        try:
            out.search = parse_query(filters.query)
        except BadRequest as exc:
            raise bad_filter(f"--query: {exc.message.removeprefix('invalid search query: ')}") from None
        for flag, op in (("is_mine", "is:mine"), ("is_mentioned", "is:mentioned"),
                         ("from_me", "from:me")):
            if getattr(out.search, flag):
                raise bad_filter(f"--query: {op} has no meaning in an export (there is no 'me'); "
                                 "use from:<username> or --user")
        if out.search.in_titles or out.search.in_direct:
            raise bad_filter("--query: in: takes a chat id in an export (titles and @direct chats "
                             "depend on who asks); use in:<chat_id> or --chat")
        if out.search.negates_operators:
            raise bad_filter("--query: a negated operator (-from:, -in:, -has:...) is not "
                             "supported in an export")
    return out


def _ever_members(chat: dict) -> set[str]:
    ids = set(chat.get("member_ids", ())) | set(chat.get("former_member_ids", ()))
    ids.update(m["user_id"] for m in chat.get("membership", ()) or ())
    return ids


def _user(team, option: str, name: str) -> dict:
    user = team.by_username.get(name.strip().lstrip("@").casefold())
    if user is None:
        raise bad_filter(f"{option} {name!r}: no such user in team {team.team['name']!r}")
    return user


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), timezone.utc)


def _hold(filters: Filters, team, engine) -> dict:
    from chatsvc.store.compliance import hold_by_name  # noqa: PLC0415
    hold = hold_by_name(engine, team.team["id"], filters.hold) if engine is not None else None
    if hold is None:
        raise bad_filter(f"--hold {filters.hold!r}: no such legal hold in team {team.team['name']!r}")
    return hold


def resolve(filters: Filters, checked: Checked, team, engine=None) -> Scope:
    """The engine query and the chats in scope; raises ExportError (exit 2) for a chat or
    user that is not the team's. ``team`` is a TeamContext (records.py)."""
    chat_sets = []   # each narrows (AND); within one, any chat (OR)
    if checked.chat_ids:
        foreign = [c for c in checked.chat_ids if c not in team.chats]
        if foreign:
            raise bad_filter(f"--chat {foreign[0]}: no such chat in team {team.team['name']!r}")
        chat_sets.append(set(checked.chat_ids))
    if filters.users:
        users = [_user(team, "--user", name) for name in filters.users]
        chat_sets.append({cid for cid, chat in team.chats.items()
                          if _ever_members(chat) & {u["id"] for u in users}})

    senders = None
    flags = {}
    text = TextMatch()
    lower, upper, until_inclusive = checked.since, checked.until, checked.until_inclusive
    q = checked.search
    if q is not None:
        if q.in_chats:
            foreign = [c for c in q.in_chats if c not in team.chats]
            if foreign:
                raise bad_filter(f"--query in:{foreign[0]}: no such chat in team {team.team['name']!r}")
            chat_sets.append(set(q.in_chats))
        for name in q.with_users:
            uid = _user(team, "--query with:", name)["id"]
            chat_sets.append({cid for cid, chat in team.chats.items() if uid in _ever_members(chat)})
        if q.from_users:
            senders = tuple(_user(team, "--query from:", name)["id"] for name in q.from_users)
        flags = {"has_like": q.has_like, "has_reaction": q.has_reaction, "thread": q.is_thread,
                 "edited": q.is_edited, "has_link": q.has_link}
        day_lo, day_hi = date_bounds(q)
        if day_lo and (lower is None or _day_start(day_lo) > lower):
            lower = _day_start(day_lo)
        if day_hi and (upper is None or _day_start(day_hi) <= upper):
            upper, until_inclusive = _day_start(day_hi), False
        text = TextMatch(q.words, q.phrases, q.excluded_words, q.excluded_phrases,
                         q.prefixes, q.excluded_prefixes)

    covered = {}
    if filters.hold is not None:
        hold = _hold(filters, team, engine)
        covered = {"covered_chat_ids": tuple(sorted(hold.get("chat_ids") or ())),
                   "covered_sender_ids": tuple(sorted(hold.get("user_ids") or ()))}
    chat_ids = set(team.chats)
    for s in chat_sets:
        chat_ids &= s
    match = ExportMatch(team_id=team.team["id"], chat_ids=tuple(sorted(chat_ids)) if chat_sets else None,
                        sender_ids=senders, **flags, since=lower, until=upper,
                        until_inclusive=until_inclusive, text=text, **covered)
    return Scope(match=match, chat_ids=sorted(chat_ids))
