"""Reading a Slack workspace export: the zip an admin downloads from Slack.

Layout: ``users.json`` and ``channels.json`` (required), ``groups.json`` (private channels),
``dms.json`` and ``mpims.json`` (direct and group direct messages; only in exports that
include them), and one folder per conversation (a channel's or group's name, a DM's id, an
MPIM's name) of daily ``YYYY-MM-DD.json`` files, each a JSON list of message objects.
Some tools wrap everything in one top folder: that is accepted.

:class:`SlackArchive` checks the shape of what it reads and raises :class:`ArchiveError`
with a message naming the file and the problem; it never interprets messages.
"""
import os
import re
import zipfile
from dataclasses import dataclass, field

import orjson

DAY_FILE = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})\.json$")
TS = re.compile(r"^(\d{1,12})(?:\.(\d{1,6}))?$")
KINDS = (("channels.json", "channel", True), ("groups.json", "private", False),
         ("dms.json", "direct", False), ("mpims.json", "mpim", False))


class ArchiveError(Exception):
    """The archive cannot be imported as it is; ``message`` says why, for a person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_ts(value) -> int | None:
    """Slack's ``ts`` ("1700000000.123456") as unix microseconds, or None if malformed."""
    if not isinstance(value, str):
        return None
    m = TS.match(value)
    if m is None:
        return None
    return int(m.group(1)) * 1_000_000 + int((m.group(2) or "").ljust(6, "0"))


@dataclass
class Conversation:
    id: str
    kind: str                 # channel | private | direct | mpim
    name: str | None
    folder: str
    members: list[str]
    created: int | None       # unix seconds
    creator: str | None
    archived: bool = False
    days: list[str] = field(default_factory=list)   # zip entries, in day order


class SlackArchive:
    """An open export. ``users`` {id: entry}, ``conversations`` in file order,
    ``unlisted_folders``: folders of day files that no conversation list names."""

    def __init__(self, path: str):
        if not os.path.exists(path):
            raise ArchiveError(f"{path}: no such file")
        if os.path.isdir(path):
            raise ArchiveError(f"{path}: is a folder; give the export's .zip file")
        try:
            self._zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ArchiveError(f"{path}: not a zip file (a Slack export is the .zip Slack gives you)") from None
        except OSError as exc:
            raise ArchiveError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        self.path = path
        try:
            self._read_lists()
        except BaseException:
            self._zip.close()
            raise

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the lists ---------------------------------------------------------------------
    def _read_lists(self):
        names = [n for n in self._zip.namelist() if not n.endswith("/")]
        tops = sorted((n for n in names if n.rsplit("/", 1)[-1] == "users.json"), key=lambda n: n.count("/"))
        if not tops:
            raise ArchiveError(f"{self.path}: users.json is missing: not a Slack workspace export")
        self._root = tops[0][: -len("users.json")]
        if self._root.count("/") > 1:
            raise ArchiveError(f"{self.path}: users.json is not at the top of the archive")
        present = set(names)
        self.users = {}
        for i, entry in enumerate(self._list("users.json", required=True)):
            uid = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(uid, str) or not uid or not isinstance(entry.get("name"), str):
                raise ArchiveError(f"users.json: entry {i} has no string id and name")
            self.users[uid] = entry
        self.conversations: list[Conversation] = []
        folders = {}
        for filename, kind, required in KINDS:
            if not required and self._root + filename not in present:
                continue
            for i, entry in enumerate(self._list(filename, required=required)):
                conv = self._conversation(filename, kind, i, entry)
                if conv.folder in folders:
                    raise ArchiveError(f"{filename}: conversation {conv.id} uses the folder {conv.folder!r} "
                                       f"of conversation {folders[conv.folder].id}")
                folders[conv.folder] = conv
                self.conversations.append(conv)
        unlisted = set()
        for name in names:
            if not name.startswith(self._root):
                continue
            rel = name[len(self._root):]
            if "/" not in rel:
                continue
            folder, base = rel.rsplit("/", 1)
            if "/" in folder or not DAY_FILE.match(base):
                continue
            conv = folders.get(folder)
            if conv is None:
                unlisted.add(folder)
            else:
                conv.days.append(name)
        for conv in self.conversations:
            conv.days.sort(key=lambda n: n.rsplit("/", 1)[-1])
        self.unlisted_folders = sorted(unlisted)

    def _list(self, filename: str, required: bool) -> list:
        data = self._json(self._root + filename, filename)
        if not isinstance(data, list):
            raise ArchiveError(f"{filename}: must be a JSON list")
        return data

    def _json(self, member: str, label: str):
        try:
            raw = self._zip.read(member)
        except KeyError:
            raise ArchiveError(f"{label} is missing: not a Slack workspace export") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # a damaged entry (CRC, truncation)
            raise ArchiveError(f"{label}: cannot be read from the zip: {exc}") from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ArchiveError(f"{label}: not valid JSON ({exc})") from None

    @staticmethod
    def _conversation(filename: str, kind: str, i: int, entry) -> Conversation:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            raise ArchiveError(f"{filename}: entry {i} has no string id")
        cid = entry["id"]
        members = entry.get("members", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ArchiveError(f"{filename}: conversation {cid}: members must be a list of user ids")
        name = entry.get("name")
        if kind in ("channel", "private", "mpim"):
            if not isinstance(name, str) or not name or "/" in name:
                raise ArchiveError(f"{filename}: conversation {cid} has no usable name")
            folder = name
        else:
            folder = cid
            if len(set(members)) > 2 or not members:
                raise ArchiveError(f"{filename}: direct conversation {cid} must have one or two members")
        created = entry.get("created")
        creator = entry.get("creator") or entry.get("user")
        return Conversation(id=cid, kind=kind, name=name if kind != "direct" else None, folder=folder,
                            members=list(dict.fromkeys(members)),
                            created=int(created) if isinstance(created, (int, float)) and created > 0 else None,
                            creator=creator if isinstance(creator, str) else None,
                            archived=bool(entry.get("is_archived")))

    # -- messages ----------------------------------------------------------------------
    def day_messages(self, member: str) -> list[tuple[int, dict]]:
        """[(ts in unix microseconds, message)] of one day file, in ts order."""
        label = member[len(self._root):]
        data = self._json(member, label)
        if not isinstance(data, list):
            raise ArchiveError(f"{label}: must be a JSON list of messages")
        out = []
        for i, msg in enumerate(data):
            if not isinstance(msg, dict):
                raise ArchiveError(f"{label}: item {i} is not a JSON object")
            ts = parse_ts(msg.get("ts"))
            if ts is None:
                raise ArchiveError(f"{label}: message {i} has no valid ts ({msg.get('ts')!r})")
            out.append((ts, msg))
        out.sort(key=lambda pair: pair[0])
        return out

    def messages(self, conv: Conversation):
        """Every (ts, message, day file) of a conversation, in ts order."""
        for member in conv.days:
            label = member[len(self._root):]
            for ts, msg in self.day_messages(member):
                yield ts, msg, label
