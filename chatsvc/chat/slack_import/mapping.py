"""One Slack message as a chatsvc message: its text, sender, thread, reactions and edit
(:func:`map_message` is the one place this mapping happens; see the package docstring)."""
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

import emoji as emoji_data

from chatsvc.chat.views import LIKE
from chatsvc.config import Config
from chatsvc.slackexport import parse_ts

MEMBERSHIP_SUBTYPES = {"channel_join": "join", "group_join": "join",
                       "channel_leave": "leave", "group_leave": "leave"}
CHANNEL_EVENTS = {"channel_topic", "channel_purpose", "channel_name", "channel_archive",
                  "channel_unarchive", "group_topic", "group_purpose", "group_name",
                  "group_archive", "group_unarchive", "pinned_item", "unpinned_item"}
NOT_MESSAGES = {"message_changed": "an edit event (the export has the edited text)",
                "message_deleted": "a deletion event",
                "message_replied": "a thread-reply event (the reply itself is imported)",
                "tombstone": "deleted in Slack (a tombstone)"}


_ANGLE = re.compile(r"<([^<>\n]+)>")


_SHORTCODE = re.compile(r"(?<![\w/]):([a-z0-9_+-]+(?:::skin-tone-[2-6])?):(?![\w/])")


def _emojize(text: str) -> str:
    """Slack's ``:tada:`` shortcodes as the emoji they show (custom ones stay as typed)."""
    return _SHORTCODE.sub(lambda m: unicode_emoji(m.group(1)) or m.group(0), text)


def plain_text(text: str, names: dict[str, str], channels: dict[str, str]) -> str:
    """Slack's mrkdwn markup as plain readable text: ``<@U1>`` -> @username, ``<#C1|x>`` ->
    #x, ``<url|label>`` -> label (url), ``<!here>`` -> @here, entities unescaped, ``:tada:``
    -> 🎉."""
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
    text = html.unescape(_ANGLE.sub(sub, text)) if "<" in text or "&" in text else text
    return _emojize(text) if ":" in text else text


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
