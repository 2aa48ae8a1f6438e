"""Moving a team in from Slack: a workspace export becomes a chatsvc team's history.

Two passes over the archive. The first (:func:`check`) reads every file, maps every message
and collects what the second needs (users, chats with members and former members, thread
roots); any problem with the archive stops the import there, before anything is written.
The second (:func:`import_slack`) writes the team, its users, its chats and then every
message through the store's import bulk path with the send path's idempotency claims, so a
second run of the same export adds nothing.

What maps where (:func:`map_message` is the one place a Slack message becomes a chatsvc
message):
- users.json: a user whose username already exists in the team is that account; the others
  are made without a usable password (``unclaimed``) and claim their account once by signing
  up with the team's invite code and their username.
- channels.json / groups.json: group chats titled with the channel's name; dms.json: direct
  chats (a pair's existing direct chat is reused); mpims.json: untitled group chats.
  ``members`` are the members; former members are those with a ``channel_leave`` message, or
  who posted without being in ``members``.
- every message keeps its time: its id is made from its ``ts`` (chatsvc.ids.id_at), so order,
  months and date search are right.
- threads: a reply (``thread_ts`` other than its ``ts``, naming a root of the same
  conversation) is a chatsvc reply: ``thread_id`` is its root's id (made from the root's ts),
  ``also_in_chat`` for ``thread_broadcast``/``reply_broadcast``. The check pass sums each
  root's replies (reply_count, last_reply_at, the latest 5 distinct repliers), written with
  the root document itself. A reply whose root is not in the export stays top-level, marked.
- reactions: Slack names become Unicode emoji (:func:`unicode_emoji`, skin tones included);
  👍 (``+1``/``thumbsup`` without a tone) is the like (``liked_by``), the others are
  ``reactions`` in Slack's order; reactors are the import's known users only. Custom
  workspace emoji stay a ``[reactions: ...]`` line in the body.
- edits: ``edited.ts`` becomes ``edited_at`` (the export holds only the final text, so there
  are no earlier versions).
- files (as links), bot messages and channel events become readable text in the body; joins
  and leaves become membership. Each is counted in the summary, and so is everything
  skipped, with its reason.
Messages bypass the senders' rate limits (nobody is typing them) but not the store's rules.
"""
import html
import re
import secrets
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import islice

import emoji as emoji_data

from chatsvc.chat.accounts import avatar_color
from chatsvc.chat.views import LIKE
from chatsvc.store.accounts import team_key, username_key
from chatsvc.errors import Unavailable
from chatsvc.ids import EPOCH_MS, id_at, id_time, millis_iso, now_iso
from chatsvc.slackexport import ArchiveError, Conversation, SlackArchive, parse_ts
from chatsvc.store import accounts as account_store
from chatsvc.store import imports as import_store
from chatsvc.store.messages import REPLY_USERS, idempotency_key
from chatsvc.store.messages import lookup_idempotency as message_lookup_idempotency
from chatsvc.config import Config
from chatsvc.wire import USERNAME

IMPORT_WORKER = 1022        # snowflake worker of imported messages (the corpus has 1023)
CHAT_WORKER = 1021          # ... and of imported chats
BATCH = 4000                # messages per _bulk (two documents each)
IN_FLIGHT = 2               # _bulk requests at once
MAX_ATTEMPTS = 5

EXIT_OK, EXIT_ARCHIVE, EXIT_TEAM, EXIT_ENGINE, EXIT_INCOMPLETE = 0, 2, 3, 4, 5

MEMBERSHIP_SUBTYPES = {"channel_join": "join", "group_join": "join",
                       "channel_leave": "leave", "group_leave": "leave"}
CHANNEL_EVENTS = {"channel_topic", "channel_purpose", "channel_name", "channel_archive",
                  "channel_unarchive", "group_topic", "group_purpose", "group_name",
                  "group_archive", "group_unarchive", "pinned_item", "unpinned_item"}
NOT_MESSAGES = {"message_changed": "an edit event (the export has the edited text)",
                "message_deleted": "a deletion event",
                "message_replied": "a thread-reply event (the reply itself is imported)",
                "tombstone": "deleted in Slack (a tombstone)"}


class ImportFailed(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


# ------------------------------------------------------------------ text and mapping

_ANGLE = re.compile(r"<([^<>\n]+)>")


def plain_text(text: str, names: dict[str, str], channels: dict[str, str]) -> str:
    """Slack's mrkdwn markup as plain readable text: ``<@U1>`` -> @username, ``<#C1|x>`` ->
    #x, ``<url|label>`` -> label (url), ``<!here>`` -> @here, entities unescaped."""
    def sub(m):
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            uid = target[1:]
            return "@" + (names.get(uid) or label.lstrip("@") or uid)
        if target.startswith("#"):
            return "#" + (label or channels.get(target[1:]) or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^", 1)[0]
            if word in ("here", "channel", "everyone"):
                return "@" + word
            return label or "@" + word
        if target.startswith("mailto:"):
            return label or target[len("mailto:"):]
        if label and label != target:
            return f"{label} ({target})"
        return target
    return html.unescape(_ANGLE.sub(sub, text)) if "<" in text or "&" in text else text


SKIN_TONES = {f"skin-tone-{n}": chr(0x1F3FB + n - 2) for n in range(2, 7)}   # Fitzpatrick 2..6
VS16, ZWJ = "\ufe0f", "\u200d"


@lru_cache(maxsize=4096)
def unicode_emoji(name: str) -> str | None:
    """A Slack reaction name as one Unicode emoji (``tada`` -> 🎉, ``+1::skin-tone-3`` -> 👍🏼),
    or None for a custom workspace emoji that has no Unicode form. Slack's names are the
    GitHub-style aliases of the ``emoji`` package (with ``-`` for some ``_``); a skin tone
    ``::skin-tone-N`` is the Fitzpatrick modifier after the first code point."""
    base_name, _, tone = name.partition("::")
    base = None
    for candidate in (base_name, base_name.replace("-", "_")):
        text = emoji_data.emojize(f":{candidate}:", language="alias")
        if emoji_data.is_emoji(text):
            base = text
            break
    if base is None:
        return None
    modifier = SKIN_TONES.get(tone)
    if modifier is None:
        return base
    head, sep, rest = base.partition(ZWJ)
    toned = head.replace(VS16, "") + modifier + sep + rest
    return toned if emoji_data.is_emoji(toned) else base


def _when(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class Mapped:
    sender: str                      # a Slack user id, or "bot:<bot id>"
    body: str
    liked_by: list[str]              # Slack user ids
    features: list[str]              # what was mapped, for the summary
    reactions: list = field(default_factory=list)   # [(Unicode emoji, [Slack user ids])], first use first
    thread_root: int | None = None   # a reply: its root's ts (us)
    also_in_chat: bool = False       # ... sent to the channel too (thread_broadcast)
    edited_ts: int | None = None     # Slack's edit time (us)


def sender_of(msg: dict) -> str | None:
    if msg.get("subtype") == "bot_message" or (not msg.get("user") and msg.get("bot_id")):
        return msg.get("user") if msg.get("user") and msg.get("subtype") != "bot_message" \
            else "bot:" + str(msg.get("bot_id") or msg.get("username") or "unknown")
    user = msg.get("user")
    return user if isinstance(user, str) and user else None


MAX_BODY_CHARS = Config().max_body_chars   # the protocol's default limit (10,000)


def map_message(msg: dict, ts: int, conv_id: str, names: dict[str, str], channels: dict[str, str],
                roots, max_body: int = MAX_BODY_CHARS) -> Mapped | tuple[str, str] | str:
    """One Slack message as chatsvc has it: a :class:`Mapped` message, a membership change
    ``("join"|"leave", user id)``, or a string: why it is skipped. ``roots``: the thread
    roots of the import, keyed ``(conversation id, root ts in us)`` (a reply whose root is
    not among them stays a top-level message, marked in its text). ``max_body``: the
    deployment's body limit (longer texts are truncated)."""
    if msg.get("type", "message") != "message":
        return f"not a message (type {msg.get('type')!r})"
    subtype = msg.get("subtype")
    if subtype in MEMBERSHIP_SUBTYPES:
        return MEMBERSHIP_SUBTYPES[subtype], msg.get("user") or ""
    if subtype in NOT_MESSAGES:
        return NOT_MESSAGES[subtype]
    if msg.get("hidden"):
        return "hidden by Slack (not shown in its history)"
    sender = sender_of(msg)
    if sender is None:
        return "no sender (no user or bot)"
    features = []
    text = msg.get("text") if isinstance(msg.get("text"), str) else ""
    lines = [plain_text(text, names, channels).strip()] if text.strip() else []
    if subtype == "bot_message":
        features.append("bot messages (a bot user sends them)")
    elif subtype in CHANNEL_EVENTS:
        features.append("channel events (as messages)")
    elif subtype not in (None, "thread_broadcast", "file_share", "me_message", "bot_message"):
        features.append(f"subtype {subtype} (as a message)")
    for att in msg.get("attachments") or ():
        if not isinstance(att, dict):
            continue
        if att.get("from_url") or att.get("original_url"):
            features.append("link previews (dropped; the link is in the text)")
            continue
        words = plain_text(str(att.get("fallback") or att.get("text") or att.get("title") or ""),
                           names, channels).strip()
        if words:
            lines.append(f"[attachment: {words}]")
            features.append("attachments (as text)")
    for f in msg.get("files") or ():
        if not isinstance(f, dict):
            continue
        name = f.get("name") or f.get("title") or f.get("id") or "file"
        url = f.get("url_private") or f.get("permalink")
        lines.append(f"[file: {name} ({url})]" if url and f.get("mode") != "tombstone"
                     else f"[file: {name} (not in the export)]")
        features.append("files (as links)")
    thread_root, also_in_chat = None, False
    thread_ts = msg.get("thread_ts")
    if thread_ts and thread_ts != msg.get("ts"):
        root_ts = parse_ts(thread_ts)
        if root_ts is not None and (conv_id, root_ts) in roots:
            thread_root = root_ts
            also_in_chat = subtype == "thread_broadcast" or bool(msg.get("reply_broadcast"))
            features.append("thread replies (in their thread)")
            if also_in_chat:
                features.append("thread replies also sent to the channel")
        else:
            lines.append(f"[reply in a thread started {_when(root_ts)}]" if root_ts
                         else "[reply in a thread]")
            features.append("thread replies whose root is not in the export (as text)")
    liked_by, reactions, others, dropped = [], {}, [], False
    for r in msg.get("reactions") or ():
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            continue
        users = [u for u in r.get("users") or () if isinstance(u, str)]
        unicode = unicode_emoji(r["name"])
        if unicode is None:   # a custom workspace emoji: no Unicode form
            who = " ".join("@" + names.get(u, u) for u in users)
            extra = max(0, int(r.get("count") or 0) - len(users)) if isinstance(r.get("count"), int) else 0
            others.append(f":{r['name']}: {who}" + (f" +{extra}" if extra else ""))
            continue
        reactors = liked_by if unicode == LIKE else reactions.setdefault(unicode, [])
        for u in users:
            if u not in names:
                dropped = True
            elif u not in reactors:
                reactors.append(u)
    if liked_by:
        features.append("likes (+1 reactions)")
    if any(reactions.values()):
        features.append("emoji reactions")
    if dropped:
        features.append("reactions of users not in users.json (dropped)")
    if others:
        lines.append("[reactions: " + "; ".join(others) + "]")
        features.append("custom emoji reactions (as text)")
    edited_ts = None
    edited = msg.get("edited")
    if isinstance(edited, dict):
        # The export has only the final text: the message gets edited_at, no earlier versions.
        edited_ts = parse_ts(edited.get("ts")) or ts
        features.append("edits (edited_at; the export has only the final text)")
    body = "\n".join(line for line in lines if line)
    if not body.strip():
        return "empty (no text, files or attachments)"
    if len(body) > max_body:
        body = body[: max(0, max_body - 20)].rstrip() + "\n[… truncated]"
        features.append(f"long messages (truncated to {max_body:,} characters)")
    return Mapped(sender, body, liked_by, features, [(e, u) for e, u in reactions.items() if u],
                  thread_root, also_in_chat, edited_ts)


# ------------------------------------------------------------------ pass 1: check

@dataclass
class ChatPlan:
    conv: Conversation
    members: list[str]                                  # Slack ids, current members
    joined: dict[str, int] = field(default_factory=dict)   # user -> ts (us)
    left: dict[str, int] = field(default_factory=dict)
    posters: dict[str, int] = field(default_factory=dict)  # user -> last post ts
    first_ts: int | None = None
    messages: int = 0


@dataclass
class Thread:
    """A thread root's summary, from its replies in the export (written with the root)."""
    reply_count: int = 0
    last_reply_ts: int = 0                               # us
    repliers: list = field(default_factory=list)         # Slack keys, most recent last


@dataclass
class Plan:
    archive: SlackArchive
    usernames: dict[str, str]            # Slack user (or bot key) -> chatsvc username
    display: dict[str, str]
    admins: set
    chats: list[ChatPlan]
    roots: dict                          # (conversation id, root ts in us) -> Thread
    channel_names: dict[str, str]
    max_body: int = MAX_BODY_CHARS
    messages: int = 0
    months: set = field(default_factory=set)     # YYYY.MM of the messages (their indices)
    skipped: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    memberships: Counter = field(default_factory=Counter)


def _clean_username(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw.strip().lower()).strip("-.") or "user"
    return name[:32]


def _display_name(entry: dict) -> str:
    profile = entry.get("profile") if isinstance(entry.get("profile"), dict) else {}
    for value in (profile.get("display_name"), entry.get("real_name"), profile.get("real_name"), entry.get("name")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:64]
    return "Slack user"


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 2
    while candidate.casefold() in taken:
        suffix = f"-{n}"
        candidate, n = name[: 32 - len(suffix)] + suffix, n + 1
    taken.add(candidate.casefold())
    return candidate


def _month(ts_us: int) -> str:
    return _day_month(ts_us // 86_400_000_000)


@lru_cache(maxsize=4096)
def _day_month(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=timezone.utc).strftime("%Y.%m")


def check(archive: SlackArchive, *, skip_unknown_users: bool = False, progress=None,
          max_body_chars: int = MAX_BODY_CHARS) -> Plan:
    """Read and map the whole archive without writing anything; ArchiveError on any problem.
    Thread roots and their summaries (reply count, last reply, latest repliers) are made
    here, so the write pass writes each root whole, summary included. ``max_body_chars``:
    the deployment's body limit (ctx.config.max_body_chars)."""
    usernames, display, taken, admins = {}, {}, set(), set()
    for uid, entry in archive.users.items():
        usernames[uid] = _unique(_clean_username(entry["name"]), taken)
        display[uid] = _display_name(entry)
        if entry.get("is_primary_owner") or entry.get("is_owner") or entry.get("is_admin"):
            admins.add(uid)
    channel_names = {c.id: c.name for c in archive.conversations if c.name}
    plan = Plan(archive, usernames, display, admins, [], {}, channel_names, max_body_chars)
    roots = plan.roots
    unknown: dict[str, str] = {}

    def known(uid: str, where: str) -> bool:
        if uid in usernames:
            return True
        if uid == "USLACKBOT":
            usernames[uid] = _unique("slackbot", taken)
            display[uid] = "Slackbot"
            return True
        unknown.setdefault(uid, where)
        return False

    for conv in archive.conversations:
        members = [m for m in conv.members if known(m, f"the members of {conv.folder}")]
        cp = ChatPlan(conv, members)
        plan.chats.append(cp)
        for ts, msg, label in archive.messages(conv):
            # Messages come in ts order, so a reply's root (older) is in roots already.
            result = map_message(msg, ts, conv.id, usernames, channel_names, roots, max_body_chars)
            if isinstance(result, str):
                plan.skipped[result] += 1
                continue
            if ts // 1000 < EPOCH_MS:
                plan.skipped["before 2024-01-01 (chatsvc ids start there)"] += 1
                continue
            if isinstance(result, tuple):
                kind, uid = result
                if uid and known(uid, label):
                    (cp.joined if kind == "join" else cp.left)[uid] = ts
                    plan.memberships[f"{kind}s (as membership)"] += 1
                else:
                    plan.skipped[f"{kind} of an unknown user"] += 1
                continue
            if result.sender.startswith("bot:"):
                if result.sender not in usernames:
                    bot = msg.get("bot_profile") if isinstance(msg.get("bot_profile"), dict) else {}
                    name = bot.get("name") or msg.get("username") or result.sender[4:]
                    usernames[result.sender] = _unique(_clean_username("bot-" + str(name)), taken)
                    display[result.sender] = (str(name) + " (bot)")[:64]
            elif not known(result.sender, label):
                plan.skipped["sent by a user not in users.json"] += 1
                continue
            cp.posters[result.sender] = ts
            cp.first_ts = ts if cp.first_ts is None else min(cp.first_ts, ts)
            cp.messages += 1
            plan.messages += 1
            plan.months.add(_month(ts))
            plan.mapped.update(set(result.features))
            if result.thread_root is not None:
                thread = roots[(conv.id, result.thread_root)]
                thread.reply_count += 1
                thread.last_reply_ts = ts
                if result.sender in thread.repliers:
                    thread.repliers.remove(result.sender)
                thread.repliers.append(result.sender)
                del thread.repliers[:-REPLY_USERS]
            elif msg.get("thread_ts") == msg.get("ts"):
                roots[(conv.id, ts)] = Thread()
            if progress:
                progress(1)
    if unknown and not skip_unknown_users:
        shown = ", ".join(f"{uid} (in {where})" for uid, where in islice(unknown.items(), 5))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ArchiveError(f"{len(unknown)} user id(s) are not in users.json: {shown}{more}; "
                           "import anyway, skipping their messages, with --skip-unknown-users")
    plan.mapped["thread roots (with their reply summary)"] = sum(1 for t in roots.values() if t.reply_count)
    if not plan.mapped["thread roots (with their reply summary)"]:
        del plan.mapped["thread roots (with their reply summary)"]
    return plan


# ------------------------------------------------------------------ pass 2: write

@dataclass
class Summary:
    team: dict
    team_created: bool
    users_created: int = 0
    users_existing: int = 0
    chats_created: int = 0
    chats_existing: int = 0
    messages_imported: int = 0
    messages_present: int = 0
    skipped: Counter = field(default_factory=Counter)
    mapped: Counter = field(default_factory=Counter)
    unlisted_folders: list = field(default_factory=list)
    elapsed_s: float = 0.0


def _team(ctx, name: str, plan: Plan) -> tuple[dict, bool]:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ImportFailed(EXIT_TEAM, "the team name must be 1-64 characters")
    team_id = ctx.new_id()
    if account_store.claim(ctx.engine, team_key(name), team_id, now_iso()):
        team = {"id": team_id, "name": name, "name_key": name.casefold(),
                "invite_code": secrets.token_urlsafe(12), "admin_id": None, "created_at": now_iso()}
        account_store.put_team(ctx.engine, team)
        return team, True
    owner = account_store.claim_owner(ctx.engine, team_key(name))
    team = account_store.get_team(ctx.engine, owner) if owner else None
    if team is None:
        raise ImportFailed(EXIT_TEAM, f"the team name {name!r} is claimed but the team is missing")
    return team, False


def _users(ctx, team: dict, plan: Plan, summary: Summary) -> dict[str, str]:
    """{Slack user or bot key: chatsvc user id}: existing usernames are those accounts."""
    engine, now = ctx.engine, now_iso()
    wanted = {}  # Slack key -> (new id, username)
    for key, username in plan.usernames.items():
        assert USERNAME.match(username), username
        wanted[key] = (ctx.new_id(), username)
    keys = {key: username_key(team["id"], username) for key, (_, username) in wanted.items()}
    results = import_store.write_ops(engine, [import_store.claim_op(engine, keys[k], uid, now)
                                              for k, (uid, _) in wanted.items()])
    ids, new_docs, lost = {}, [], []
    for (key, (uid, username)), (status, error) in zip(wanted.items(), results):
        if status == 201:
            ids[key] = uid
            entry = plan.archive.users.get(key, {})
            new_docs.append({
                "id": uid, "team_id": team["id"], "username": username, "username_key": username.casefold(),
                "display_name": plan.display[key], "avatar_color": avatar_color(username),
                "password_hash": "", "is_admin": key in plan.admins and not entry.get("deleted"),
                "created_at": now, "unclaimed": True, "imported_from": "slack:" + key})
        elif status == 409:
            lost.append(key)
        else:
            raise ImportFailed(EXIT_ENGINE, f"the engine refused a username claim: {status} {error}")
    owners = import_store.claim_owners(engine, [keys[k] for k in lost])
    for key in lost:
        ids[key] = owners[keys[key]]
    existing = import_store.get_docs(engine, "users", [ids[k] for k in lost])
    for key in lost:  # a claim whose user document never got written: write it now
        if ids[key] not in existing:
            uid = ids[key]
            new_docs.append({
                "id": uid, "team_id": team["id"], "username": wanted[key][1],
                "username_key": wanted[key][1].casefold(), "display_name": plan.display[key],
                "avatar_color": avatar_color(wanted[key][1]), "password_hash": "", "is_admin": False,
                "created_at": now, "unclaimed": True, "imported_from": "slack:" + key})
    _check(import_store.write_ops(engine, [import_store.doc_op(engine, "users", d["id"], d) for d in new_docs]))
    summary.users_created = len(new_docs)
    summary.users_existing = len(wanted) - len(new_docs)
    if team.get("admin_id") is None and new_docs:
        admin = next((d for d in new_docs if d["is_admin"]), None)
        if admin is not None:
            team["admin_id"] = admin["id"]
            account_store.put_team(engine, team)
    return ids


def _check(results):
    for status, error in results:
        if status not in (200, 201):
            if status in (429, 503) or status >= 500:
                raise Unavailable(f"the engine could not store a document ({status})")
            raise ImportFailed(EXIT_ENGINE, f"the engine refused a document: {status} {error}")


def _chat_doc(ctx, team: dict, cp: ChatPlan, ids: dict[str, str]) -> dict:
    conv = cp.conv
    created_us = conv.created * 1_000_000 if conv.created else (cp.first_ts or EPOCH_MS * 1000)
    created_ms = max(EPOCH_MS, min(created_us // 1000, (cp.first_ts or created_us) // 1000))
    created_at = millis_iso(created_ms)
    members = [m for m in cp.members if m in ids]
    leavers = {u for u, t in cp.left.items() if u not in members and t >= cp.joined.get(u, 0)}
    leavers |= {u for u in cp.posters if u not in members and u in ids and not u.startswith("bot:")
                and conv.kind not in ("direct",)}
    membership = []
    for u in members:
        joined = cp.joined.get(u)
        membership.append({"user_id": ids[u], "left_at": None,
                           "joined_at": millis_iso(max(EPOCH_MS, joined // 1000)) if joined else created_at})
    for u in sorted(leavers):
        joined, left = cp.joined.get(u), cp.left.get(u) or cp.posters.get(u)
        membership.append({"user_id": ids[u],
                           "joined_at": millis_iso(max(EPOCH_MS, joined // 1000)) if joined else created_at,
                           "left_at": millis_iso(max(EPOCH_MS, left // 1000)) if left else created_at})
    member_ids = [ids[u] for u in members]
    if conv.kind == "direct" and len(member_ids) == 2:
        kind, title = "direct", None
    elif conv.kind == "direct":
        kind, title = "group", "Notes"
    else:
        kind, title = "group", (conv.name if conv.kind in ("channel", "private") else None)
    creator = ids.get(conv.creator or "") or (member_ids[0] if member_ids else None) \
        or (ids[next(iter(cp.posters))] if cp.posters else None)
    return {"id": None, "team_id": team["id"], "kind": kind, "title": title,
            "member_ids": member_ids, "former_member_ids": [ids[u] for u in sorted(leavers)],
            "membership": membership, "created_by": creator, "created_at": created_at,
            "_created_ms": created_ms}


def _chats(ctx, team: dict, plan: Plan, ids: dict[str, str], summary: Summary) -> dict[str, str]:
    """{Slack conversation id: chat id}. A claim per conversation keeps a re-run on the same
    chats; a direct conversation of a pair that already has a direct chat joins that chat."""
    engine, now = ctx.engine, now_iso()
    state = ctx.teams.get(team["id"])
    claim_keys = {cp.conv.id: f"slack:{team['id']}:{cp.conv.id}" for cp in plan.chats}
    owners = import_store.claim_owners(engine, list(claim_keys.values()))
    existing = import_store.get_docs(engine, "chats", list(owners.values()))
    chat_ids = {}
    for cp in plan.chats:
        key = claim_keys[cp.conv.id]
        if key in owners and owners[key] in existing:
            chat_ids[cp.conv.id] = owners[key]
            summary.chats_existing += 1
            continue
        doc = _chat_doc(ctx, team, cp, ids)
        created_ms = doc.pop("_created_ms")
        if doc["kind"] == "direct":
            a, b = doc["member_ids"]
            live = next((state.chats[c] for c in state.member_chats.get(a, ()) if state.chats[c]["kind"] == "direct"
                         and b in state.chats[c]["member_ids"]), None)
            if live is not None:
                chat_ids[cp.conv.id] = live["id"]
                import_store.write_ops(engine, [import_store.claim_op(engine, key, live["id"], now)])
                summary.chats_existing += 1
                continue
        seq = zlib.crc32(cp.conv.id.encode()) & 0xFFF
        for attempt in range(64):
            chat_id = owners.get(key) or str(id_at(created_ms, CHAT_WORKER, (seq + attempt) & 0xFFF))
            doc["id"] = chat_id
            (status, error), = import_store.write_ops(engine, [import_store.doc_op(engine, "chats", chat_id, doc,
                                                                                   create=key not in owners)])
            if status in (200, 201):
                break
            if status != 409:
                _check([(status, error)])
        else:
            raise ImportFailed(EXIT_ENGINE, f"no free chat id for conversation {cp.conv.id}")
        if key not in owners:
            (status, error), = import_store.write_ops(engine, [import_store.claim_op(engine, key, chat_id, now)])
            if status == 409:  # another import of this export won the race: use its chat
                import_store.write_ops(engine, [import_store.Op("delete", engine.index("chats"), chat_id)])
                chat_ids[cp.conv.id] = import_store.get_claim_owner(engine, key)
                summary.chats_existing += 1
                continue
            _check([(status, error)])
        chat_ids[cp.conv.id] = chat_id
        summary.chats_created += 1
    return chat_ids


def _contacts(ctx, team: dict, plan: Plan, ids: dict[str, str]):
    """People who had a direct conversation become each other's contacts."""
    engine, now = ctx.engine, now_iso()
    ops = []
    for cp in plan.chats:
        if cp.conv.kind in ("direct", "mpim"):
            people = [ids[m] for m in cp.members if m in ids]
            ops += [import_store.contact_op(engine, team["id"], a, b, now) for a in people for b in people if a != b]
    for i in range(0, len(ops), 2000):
        _check(import_store.write_ops(engine, ops[i:i + 2000]))


def _message_id(ts: int, crc: int) -> int:
    ms, micros = divmod(ts, 1000)
    # Unique within the millisecond: the microseconds (Slack's ts is unique per
    # conversation) and two bits of the conversation.
    return id_at(ms, IMPORT_WORKER, micros * 4 + crc)


def _message_docs(plan: Plan, team_id: str, ids: dict[str, str], chat_ids: dict[str, str],
                  thread_roots: list | None = None):
    """Every message document to write, with its idempotency key, conversation by
    conversation. A reply's ``thread_id`` is its root's id (made from the root's ts like
    every id); a root carries its thread summary from the check pass. ``thread_roots``
    collects (chat id, root id, root's idempotency key) of the roots written."""
    archive, names, channels, roots = plan.archive, plan.usernames, plan.channel_names, plan.roots
    max_body = plan.max_body
    for cp in plan.chats:
        conv_id = cp.conv.id
        chat_id = chat_ids[conv_id]
        crc = zlib.crc32(conv_id.encode()) & 3
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", conv_id)[:24]
        for ts, msg, _ in archive.messages(cp.conv):
            if ts // 1000 < EPOCH_MS:
                continue
            result = map_message(msg, ts, conv_id, names, channels, roots, max_body)
            if not isinstance(result, Mapped):
                continue
            sender_id = ids.get(result.sender)
            if sender_id is None:
                continue
            ms = ts // 1000
            mid = _message_id(ts, crc)
            cmid = f"slack-{safe}-{ts // 1_000_000}_{ts % 1_000_000:06d}"
            liked_by = [ids[u] for u in result.liked_by if u in ids]
            doc = {"id": mid, "chat_id": chat_id, "team_id": team_id, "sender_id": sender_id,
                   "body": result.body, "created_at": millis_iso(ms), "client_msg_id": cmid,
                   "liked_by": liked_by, "like_count": len(liked_by), "hidden_for": [], "deleted": False}
            key = idempotency_key(sender_id, cmid)
            if result.reactions:
                doc["reactions"] = [{"emoji": e, "user_ids": [ids[u] for u in users if u in ids]}
                                    for e, users in result.reactions]
            if result.edited_ts is not None:
                doc["edited_at"] = millis_iso(max(ms, result.edited_ts // 1000))
            if result.thread_root is not None:
                doc["thread_id"] = _message_id(result.thread_root, crc)
                doc["also_in_chat"] = result.also_in_chat
            elif msg.get("thread_ts"):
                thread = roots.get((conv_id, ts))
                if thread is not None and thread.reply_count:
                    doc["reply_count"] = thread.reply_count
                    doc["last_reply_at"] = millis_iso(thread.last_reply_ts // 1000)
                    doc["reply_user_ids"] = [ids[u] for u in thread.repliers if u in ids]
                    if thread_roots is not None:
                        thread_roots.append((chat_id, mid, key))
            yield doc, key


def _write_batch(engine, batch: list[tuple[dict, str]]) -> tuple[int, int, list]:
    """(imported, already present, items to retry) of one batch."""
    outcomes = import_store.write_messages(engine, batch)
    imported = present = 0
    release, delete, retry = [], [], []
    for (doc, key), out in zip(batch, outcomes):
        if out.claim == 201 and out.write == 201:
            imported += 1
        elif out.claim == 409:
            present += 1
            if out.write == 201:  # a copy under another id than the first run's: remove it
                delete.append(doc)
        elif out.claim == 201 and out.write == 409:  # the id is another message's
            release.append(key)
            retry.append((dict(doc, id=_next_worker(doc["id"])), key))
        elif out.claim in (429, 503) or out.claim >= 500 or out.write in (429, 503) or out.write >= 500:
            if out.claim == 201:
                release.append(key)
            if out.write == 201:
                delete.append(doc)
            retry.append((doc, key))
        else:
            raise ImportFailed(EXIT_INCOMPLETE, f"the engine refused message {doc['client_msg_id']}: {out.error}")
    if release or delete:
        import_store.undo_messages(engine, release, delete)
    return imported, present, retry


def _next_worker(mid: int) -> int:
    """The same time and sequence under the next lower worker number."""
    worker = (mid >> 12) & 0x3FF
    return (mid & ~(0x3FF << 12)) | (((worker - 1) % 1024) << 12)


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_messages(ctx, plan: Plan, team_id: str, ids, chat_ids, summary: Summary, progress=None):
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    import time  # noqa: PLC0415

    engine = ctx.engine
    pending: list = []
    thread_roots: list = []
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = []

        def drain(keep: int):
            while len(futures) > keep:
                imported, present, retry = futures.pop(0).result()
                summary.messages_imported += imported
                summary.messages_present += present
                pending.extend(retry)
                if progress:
                    progress(imported + present)
        for batch in _batches(_message_docs(plan, team_id, ids, chat_ids, thread_roots), BATCH):
            futures.append(pool.submit(_write_batch, engine, batch))
            drain(IN_FLIGHT)
        drain(0)
    attempt = 0
    while pending:
        attempt += 1
        if attempt > MAX_ATTEMPTS:
            raise ImportFailed(EXIT_INCOMPLETE, f"{len(pending)} messages could not be stored after "
                                                f"{MAX_ATTEMPTS} attempts; run the import again to finish")
        time.sleep(min(5, 0.5 * attempt))
        retry, pending = pending, []
        for batch in _batches(retry, BATCH):
            imported, present, again = _write_batch(engine, batch)
            summary.messages_imported += imported
            summary.messages_present += present
            pending.extend(again)
            if progress:
                progress(imported + present)
    _follow_moved_roots(engine, thread_roots)


def _follow_moved_roots(engine, thread_roots: list):
    """Replies carry the id their root was meant to have. A root stored under another id
    (its id was another message's, so it moved to the next worker; or an earlier run
    stored it) is found from its idempotency claim, and its replies are pointed at it:
    one update by query per chat that has such a root (none in the usual case)."""
    moved: dict[str, dict[str, int]] = {}
    for i in range(0, len(thread_roots), 5000):
        chunk = thread_roots[i:i + 5000]
        claims = message_lookup_idempotency(engine, [key for _, _, key in chunk])
        for chat_id, mid, key in chunk:
            actual = claims.get(key, {}).get("message_id")
            if actual is not None and int(actual) != mid:
                moved.setdefault(chat_id, {})[str(mid)] = int(actual)
    if moved:
        import_store.refresh(engine)
    for chat_id, ids in moved.items():
        import_store.move_thread_ids(engine, chat_id, ids)


def import_slack(ctx, path: str, team_name: str, *, skip_unknown_users: bool = False,
                 progress_factory=None) -> Summary:
    """Import the export at ``path`` into team ``team_name`` (created if needed).

    ``progress_factory(total, label)`` returns a callable taking a count (or None), and
    may have ``close()``. Raises ImportFailed (with an exit code) or Unavailable."""
    import time  # noqa: PLC0415
    started = time.monotonic()
    try:
        archive = SlackArchive(path)
    except ArchiveError as exc:
        raise ImportFailed(EXIT_ARCHIVE, exc.message) from None
    with archive:
        try:
            plan = check(archive, skip_unknown_users=skip_unknown_users,
                         max_body_chars=ctx.config.max_body_chars)
        except ArchiveError as exc:
            raise ImportFailed(EXIT_ARCHIVE, f"{path}: {exc.message}; nothing was imported") from None
        import_store.ensure_fields(ctx.engine)
        team, created = _team(ctx, team_name, plan)
        summary = Summary(team, created, skipped=plan.skipped, mapped=plan.mapped + plan.memberships,
                          unlisted_folders=archive.unlisted_folders)
        ctx.teams.evict(team["id"])
        ids = _users(ctx, team, plan, summary)
        chat_ids = _chats(ctx, team, plan, ids, summary)
        _contacts(ctx, team, plan, ids)
        bar = progress_factory(plan.messages, "messages") if progress_factory else None
        paused = import_store.pause_refresh(ctx.engine, sorted(plan.months))
        try:
            write_messages(ctx, plan, team["id"], ids, chat_ids, summary, bar)
        finally:
            import_store.resume_refresh(ctx.engine, paused)
            if bar is not None and hasattr(bar, "close"):
                bar.close()
        import_store.refresh(ctx.engine)
        ctx.teams.evict(team["id"])   # this process's cache, if any, reloads what was written
    summary.elapsed_s = time.monotonic() - started
    return summary


def summary_lines(s: Summary) -> list[str]:
    rate = f" in {s.elapsed_s:.1f} s ({s.messages_imported / s.elapsed_s:,.0f} messages/s)" \
        if s.elapsed_s and s.messages_imported else ""
    lines = [f"team {s.team['name']!r} ({'created' if s.team_created else 'existing'}); "
             f"invite code: {s.team['invite_code']}",
             f"users: {s.users_created} created, {s.users_existing} existing accounts",
             f"chats: {s.chats_created} created, {s.chats_existing} already there",
             f"messages: {s.messages_imported} imported, {s.messages_present} already there{rate}"]
    if s.mapped:
        lines.append("mapped: " + "; ".join(f"{k}: {v}" for k, v in sorted(s.mapped.items())))
    skipped = sum(s.skipped.values())
    lines.append(f"skipped: {skipped}" + (" (" + "; ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) + ")"
                                          if skipped else ""))
    if s.unlisted_folders:
        lines.append("skipped folders (not in channels/groups/dms/mpims.json): " + ", ".join(s.unlisted_folders))
    return lines
