"""Pass 1 of an import: read and map the whole archive, and plan what pass 2 writes (users,
chats with members and former members, thread summaries); nothing is written here, so a
broken archive stops the import before anything exists."""
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import islice

from chatsvc.chat.slack_import.mapping import MAX_BODY_CHARS, map_message
from chatsvc.ids import EPOCH_MS
from chatsvc.slackexport import ArchiveError, Conversation, SlackArchive
from chatsvc.store.messages import REPLY_USERS

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
