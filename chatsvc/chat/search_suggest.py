"""Search as you type (PROTOCOL.md "Search"): completions of the last token of a partial
query, behind GET /api/search/suggest.

``suggest(ctx, me, q)`` -> {suggestions: [{kind, insert, label}]}: ``insert`` replaces the
last token of ``q`` (a leading '-' kept). Operators complete by prefix; the value of
``from:``/``with:`` completes from the team directory; ``in:`` from the titles of the chats
the caller is in NOW (never another team's, never one she left) and ``in:@<username>`` from
her direct chats.
"""
from chatsvc.chat.context import ChatContext
from chatsvc.chat.search_query import CLOSE_QUOTES, OPEN_QUOTES
from chatsvc.errors import BadRequest

MAX_SUGGESTIONS = 8
MAX_PARTIAL_CHARS = 1000
OPERATOR_COMPLETIONS = (
    ("from:", "messages sent by a user"), ("from:me", "messages you sent"),
    ("in:", "messages in a chat (id, title or @username)"), ("with:", "chats a user is in"),
    ("before:", "sent before a day (YYYY-MM-DD)"), ("after:", "sent after a day (YYYY-MM-DD)"),
    ("on:", "sent on a day (YYYY-MM-DD)"), ("during:", "sent in a month or year (YYYY-MM, YYYY)"),
    ("has:like", "liked"), ("has:reaction", "with a reaction"), ("has:link", "with a link"),
    ("is:mine", "sent by you"), ("is:mentioned", "mentioning you"), ("is:thread", "in a thread"),
    ("is:edited", "edited"),
)


def _last_token(q: str) -> str:
    """The token being typed: after the last whitespace outside an open quote."""
    if not q or q[-1].isspace():
        return ""
    i, start, quoted = 0, 0, False
    while i < len(q):
        c = q[i]
        if quoted and c in CLOSE_QUOTES:
            quoted = False
        elif not quoted and c in OPEN_QUOTES:
            quoted = True
        elif not quoted and c.isspace():
            start = i + 1
        i += 1
    return q[start:]


def _users(state, me_id: str, typed: str, op: str, neg: str) -> list[dict]:
    key = typed.removeprefix("@").casefold()
    out = []
    if op == "from" and "me".startswith(key):
        out.append({"kind": "user", "insert": f"{neg}from:me", "label": "me (you)"})
    for user in sorted(state.users.values(), key=lambda u: u["username_key"]):
        if user["username_key"].startswith(key) and not user.get("deactivated"):
            label = user["username"] + (f" ({user['display_name']})" if user.get("display_name") else "")
            out.append({"kind": "user", "insert": f"{neg}{op}:{user['username']}", "label": label})
    return out


def _chats(state, me_id: str, typed: str, neg: str) -> list[dict]:
    key = typed.lstrip(OPEN_QUOTES).casefold()
    out = []
    mine = [state.chats[cid] for cid in state.member_chats.get(me_id, ()) if cid in state.chats]
    for chat in sorted(mine, key=lambda c: ((c.get("title") or "").casefold(), c["id"])):
        title = chat.get("title")
        if title:
            if " ".join(title.split()).casefold().startswith(" ".join(key.split())):
                value = f'"{title}"' if any(ch.isspace() for ch in title) else title
                out.append({"kind": "chat", "insert": f"{neg}in:{value}", "label": title})
        elif chat.get("kind") == "direct":
            other = next((state.users.get(u) for u in chat["member_ids"] if u != me_id), None)
            if other and other["username_key"].startswith(key.removeprefix("@")):
                out.append({"kind": "chat", "insert": f"{neg}in:@{other['username']}",
                            "label": f"@{other['username']} (direct chat)"})
    # de-duplicate titles shared by several chats (in:<title> means all of them)
    seen, unique = set(), []
    for s in out:
        if s["insert"] not in seen:
            seen.add(s["insert"])
            unique.append(s)
    return unique


def suggest(ctx: ChatContext, me: dict, q: str) -> dict:
    """{suggestions: [...]} completing the last token of ``q`` (at most 8)."""
    if len(q) > MAX_PARTIAL_CHARS:
        raise BadRequest(f"q is longer than {MAX_PARTIAL_CHARS} characters",
                         fields={"q": f"at most {MAX_PARTIAL_CHARS} characters"})
    token = _last_token(q)
    neg = "-" if token.startswith("-") and len(token) > 1 else ""
    token = token[len(neg):]
    if not token:
        return {"suggestions": []}
    state = ctx.teams.get(me["team_id"])
    op, colon, value = token.partition(":")
    op = op.lower()
    if colon and op in ("from", "with"):
        found = _users(state, me["id"], value, op, neg)
    elif colon and op == "in":
        found = _chats(state, me["id"], value, neg)
    else:
        low = token.lower()
        found = [{"kind": "operator", "insert": neg + text, "label": f"{text} {help}"}
                 for text, help in OPERATOR_COMPLETIONS if text.startswith(low) and text != low]
    return {"suggestions": found[:MAX_SUGGESTIONS]}
