"""Search (PROTOCOL.md "Search"): the use case behind GET /api/search.

``search(ctx, me, q, sort=, limit=, cursor=)`` parses the query language
(chat/search_query.py), resolves from:/with: usernames and the chats the caller may see NOW
from the team's in-memory state (so a leaver loses a chat at once, whatever the engine
holds) into a :class:`~chatsvc.store.search.MessageQuery`, which the store runs with the
permission filters (team, visible chats, not deleted for everyone, not hidden for the
caller), and presents each hit as {message, chat: {id, title, kind}, highlights}.

Cursors are opaque to clients: URL-safe base64 of a small JSON object holding the last sort
values, the snapshot bound (the largest id the first page could have returned), the recency
origin of the first page and a fingerprint of (caller, q, sort). Every page of one search
therefore sees the same set of messages, minus any deleted or hidden meanwhile: new arrivals
never shift pages, and scores do not drift (see store/search.py).
"""
import base64
import binascii
import hashlib
import html
import json
import time

from chatsvc.chat.context import ChatContext
from chatsvc.chat.search_query import SORTS, SearchQuery, date_bounds, parse_query
from chatsvc.chat.views import message_view
from chatsvc.errors import BadRequest
from chatsvc.ids import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS, id_millis, millis_iso
from chatsvc.store import search as search_store
from chatsvc.store.search import MessageQuery, TextMatch

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 1024
CURSOR_VERSION = 1
FALLBACK_FRAGMENT = 150   # characters of body shown when the engine gave no fragment
CLOCK_MARGIN_MS = 86_400_000   # chats' creation times as a lower bound, less a day of clock skew


def _empty() -> dict:
    return {"hits": [], "total": 0, "next_cursor": None}


# ---------------------------------------------------------------------------- cursors

def _fingerprint(user_id: str, q: str, sort: str) -> str:
    return hashlib.sha256(f"{user_id}\x00{sort}\x00{q}".encode()).hexdigest()[:16]


def encode_cursor(after: list, upper_id: int, origin_ms: int, fingerprint: str) -> str:
    raw = json.dumps({"v": CURSOR_VERSION, "a": after, "u": upper_id, "o": origin_ms,
                      "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor(detail: str) -> BadRequest:
    return BadRequest(f"invalid cursor: {detail}", fields={"cursor": detail})


def decode_cursor(cursor: str, fingerprint: str, by_score: bool) -> tuple[list, int, int]:
    """(search_after values, upper id, recency origin ms) of a cursor this search issued.
    BadRequest naming ``cursor`` for anything else (garbled, or from another query/sort)."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _bad_cursor("too long")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor("not a cursor issued by this server") from None
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise _bad_cursor("not a cursor issued by this server")
    if data.get("f") != fingerprint:
        raise _bad_cursor("it belongs to another query or sort: start again without a cursor")
    after, upper, origin = data.get("a"), data.get("u"), data.get("o")
    want = 2 if by_score else 1
    ints = (upper, origin) + (tuple(after[-1:]) if isinstance(after, list) else ())
    if not isinstance(after, list) or len(after) != want \
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in ints) \
            or (by_score and (isinstance(after[0], bool) or not isinstance(after[0], (int, float)))):
        raise _bad_cursor("not a cursor issued by this server")
    return after, upper, origin


def snowflake_ceiling(ms: int) -> int:
    """The largest id any worker can issue at unix millisecond ``ms``."""
    return ((ms - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) | ((1 << (WORKER_BITS + SEQUENCE_BITS)) - 1)


# ---------------------------------------------------------------------------- query

def _resolve_users(state, names) -> list[str] | None:
    """Ids of these usernames in the team (any case), or None if one is unknown."""
    ids = []
    for name in names:
        user_id = state.by_username.get(name.casefold())
        if user_id is None:
            return None
        ids.append(user_id)
    return ids


def _present(state, hit, viewer_id: str) -> dict | None:
    message = message_view(hit.doc, viewer_id)
    chat = state.chats.get(hit.doc["chat_id"])
    if message is None or chat is None:
        return None
    highlights = hit.highlights or ([html.escape(hit.doc["body"][:FALLBACK_FRAGMENT], quote=True)]
                                    if hit.doc.get("body") else [])
    return {"message": message,
            "chat": {"id": chat["id"], "title": chat.get("title"), "kind": chat["kind"]},
            "highlights": highlights}


# Negated has:/is: flags of the query language, as the store's MessageQuery names them
# (-is:mine is an excluded sender instead).
_EXCLUDED_FLAGS = {"has_like": "has_like", "has_reaction": "has_reaction", "has_link": "has_link",
                   "has_file": "has_file", "has_image": "has_image",
                   "is_thread": "thread", "is_edited": "edited", "is_mentioned": "mentioned"}


def _known_users(state, names) -> list[str]:
    """Ids of those of these usernames that exist in the team (any case)."""
    return [uid for uid in (state.by_username.get(n.casefold()) for n in names) if uid is not None]


def chats_named(state, chat_ids, titles=(), direct_with=(), viewer_id: str = "") -> set:
    """The chats among ``chat_ids`` titled one of ``titles`` (ignoring case and runs of
    spaces) or that are the viewer's direct chat with one of the ``direct_with`` usernames."""
    keys = {" ".join(t.split()).casefold() for t in titles}
    partners = set(_known_users(state, direct_with))
    out = set()
    for cid in chat_ids:
        chat = state.chats.get(cid)
        if chat is None:
            continue
        title = chat.get("title")
        if title and " ".join(title.split()).casefold() in keys:
            out.add(cid)
        elif chat.get("kind") == "direct" and partners & (set(chat["member_ids"]) - {viewer_id}):
            out.add(cid)
    return out


def _chats_with(state, chat_ids, user_ids) -> set:
    return {cid for cid in chat_ids if all(uid in state.chats[cid]["member_ids"] for uid in user_ids)}


def resolve(parsed: SearchQuery, state, viewer_id: str, *, by_score: bool,
            recency_origin: str = "now") -> MessageQuery | None:
    """The parsed query for this viewer of this team (a TeamState): the chats she may see
    now narrowed by in: (ids, titles, @direct) and with:, less those of -in: and -with:; the
    from: senders by id (from:me is the viewer), -from: and -is:mine as excluded senders.
    None when nothing can match (no such chat or user, or no chat left). A negated operator
    naming nobody (an unknown user or title) excludes nothing."""
    member = set(state.member_chats.get(viewer_id, ()))
    visible = set(member)
    if parsed.in_chats or parsed.in_titles or parsed.in_direct:
        visible &= set(parsed.in_chats) | chats_named(state, member, parsed.in_titles,
                                                      parsed.in_direct, viewer_id)
    visible -= set(parsed.excluded_in_chats)
    visible -= chats_named(state, member, parsed.excluded_in_titles, parsed.excluded_in_direct,
                           viewer_id)
    sender_ids = None
    if parsed.from_users or parsed.from_me:
        sender_ids = _resolve_users(state, parsed.from_users)
        if sender_ids is None:   # an unknown sender sent nothing
            return None
        if parsed.from_me and viewer_id not in sender_ids:
            sender_ids.append(viewer_id)
    if parsed.with_users:
        with_ids = _resolve_users(state, parsed.with_users)
        if with_ids is None:
            return None
        visible = _chats_with(state, visible, with_ids)
    for uid in _known_users(state, parsed.excluded_with_users):
        visible -= _chats_with(state, visible, [uid])
    if not visible:
        return None
    excluded_senders = list(dict.fromkeys(_known_users(state, parsed.excluded_from_users)))
    if (parsed.excluded_from_me or "is_mine" in parsed.excluded_flags) \
            and viewer_id not in excluded_senders:
        excluded_senders.append(viewer_id)
    lower, upper = date_bounds(parsed)
    return MessageQuery(
        team_id=state.id, viewer_id=viewer_id, chat_ids=tuple(sorted(visible)),
        text=TextMatch(parsed.words, parsed.phrases, parsed.excluded_words, parsed.excluded_phrases,
                       parsed.prefixes, parsed.excluded_prefixes),
        sender_ids=None if sender_ids is None else tuple(sender_ids), mine=parsed.is_mine,
        mentioned=parsed.is_mentioned, has_like=parsed.has_like, has_reaction=parsed.has_reaction,
        thread=parsed.is_thread, edited=parsed.is_edited, has_link=parsed.has_link,
        has_file=parsed.has_file, has_image=parsed.has_image,
        excluded_sender_ids=tuple(excluded_senders),
        excluded_flags=tuple(_EXCLUDED_FLAGS[f] for f in parsed.excluded_flags if f in _EXCLUDED_FLAGS),
        excluded_ranges=parsed.excluded_ranges, created_from=lower, created_until=upper,
        by_score=by_score, recency_origin=recency_origin)


def search(ctx: ChatContext, me: dict, q: str, *, sort: str = "relevance",
           limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> dict:
    """{hits: [{message, chat, highlights}], total, next_cursor} for the caller.

    ``total`` is exact: every visible match of this search's snapshot (the first page's
    instant). ``next_cursor`` is None on the last page. BadRequest (naming q, sort, limit or
    cursor) for a malformed request; Unavailable when the engine is down.
    """
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}",
                         fields={"sort": "relevance or recent"})
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be 1..{MAX_LIMIT}", fields={"limit": f"1..{MAX_LIMIT}"})
    parsed = parse_query(q)
    by_score = parsed.has_text and sort == "relevance"
    fingerprint = _fingerprint(me["id"], q, sort)
    if cursor:
        after, upper_id, origin_ms = decode_cursor(cursor, fingerprint, by_score)
    else:
        after, origin_ms = None, int(time.time() * 1000)
        upper_id = snowflake_ceiling(origin_ms)

    state = ctx.teams.get(me["team_id"])
    query = resolve(parsed, state, me["id"], by_score=sort == "relevance",
                    recency_origin=millis_iso(origin_ms))
    if query is None:
        return _empty()
    # No message of a chat predates the chat: the engine can skip older monthly indices.
    oldest = min(int(cid) for cid in query.chat_ids)
    not_before = millis_iso(max(EPOCH_MS, id_millis(oldest) - CLOCK_MARGIN_MS))
    page = search_store.search_messages(ctx.engine, query, size=limit + 1, upper_id=upper_id,
                                        search_after=after, not_before=not_before)
    hits = page.hits[:limit]
    next_cursor = None
    if len(page.hits) > limit:
        next_cursor = encode_cursor(hits[-1].sort, upper_id, origin_ms, fingerprint)
    presented = [p for p in (_present(state, h, me["id"]) for h in hits) if p is not None]
    out = {"hits": presented, "total": page.total, "next_cursor": next_cursor}
    if not page.total_exact:   # never with track_total_hits: true; said honestly if it happens
        out["total_is_lower_bound"] = True
    return out
