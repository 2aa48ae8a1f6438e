"""What the export knows about a team, and its view of one message.

``TeamContext`` holds the team's users, chats (with membership history) and read markers:
small per-team data, read once at the start of an export (after the same refresh as the
messages snapshot) and saved beside the output so a resumed export enriches messages
exactly as the interrupted one did. ``Enricher.record`` turns a stored message document
into the export record: ids as strings (PROTOCOL.md), sender and chat names, the original
body even when deleted for everyone, who deleted or hid it and when, likes, read markers.
"""
import json
from bisect import bisect_left
from json.encoder import encode_basestring as _js   # the C encoder of ensure_ascii=False

from chatsvc.export.attachments import record_files
from chatsvc.export.errors import unknown_team
from chatsvc.ids import parse_id
from chatsvc.store import accounts as account_store
from chatsvc.store import chats as chat_store

USER_FIELDS = ("id", "team_id", "username", "display_name", "is_admin", "created_at")
CHAT_FIELDS = ("id", "team_id", "kind", "title", "member_ids", "former_member_ids",
               "membership", "created_by", "created_at")
READ_FIELDS = ("chat_id", "user_id", "message_id", "updated_at")


def find_team(engine, ref: str) -> dict:
    """A team by name (any case) or by id; ExportError (exit 3) if there is none."""
    ref = ref.strip()
    owner = account_store.claim_owner(engine, account_store.team_key(ref))
    team = account_store.get_team(engine, owner) if owner else None
    if team is None and parse_id(ref) is not None:
        team = account_store.get_team(engine, ref)
    if team is None:
        raise unknown_team(f"no team named {ref!r} (nor with that id)")
    return {"id": team["id"], "name": team["name"]}


def _pick(doc: dict, fields) -> dict:
    return {k: doc.get(k) for k in fields}


class TeamContext:
    def __init__(self, team: dict, users: list[dict], chats: list[dict], reads: list[dict]):
        self.team = team
        self.users = {u["id"]: u for u in sorted(users, key=lambda u: u["id"])}
        self.by_username = {u["username"].casefold(): u for u in self.users.values()}
        self.chats = {c["id"]: c for c in sorted(chats, key=lambda c: c["id"])}
        self.reads: dict[str, dict[str, dict]] = {}
        for r in sorted(reads, key=lambda r: (r["chat_id"], r["user_id"])):
            self.reads.setdefault(r["chat_id"], {})[r["user_id"]] = r

    @classmethod
    def load(cls, engine, team_ref: str) -> "TeamContext":
        team = find_team(engine, team_ref)
        users = [_pick(u, USER_FIELDS) for u in account_store.team_users(engine, team["id"])]
        chats = [_pick(c, CHAT_FIELDS) for c in chat_store.of_team(engine, team["id"])]
        reads = [_pick(r, READ_FIELDS) for r in chat_store.reads_of_team(engine, team["id"])]
        return cls(team, users, chats, reads)

    def to_dict(self) -> dict:
        return {"team": self.team, "users": list(self.users.values()),
                "chats": list(self.chats.values()),
                "reads": [r for per_chat in self.reads.values() for r in per_chat.values()]}

    @classmethod
    def from_dict(cls, d: dict) -> "TeamContext":
        return cls(d["team"], d["users"], d["chats"], d["reads"])

    # -- views ---------------------------------------------------------------------
    def person(self, user_id: str | None) -> dict | None:
        if user_id is None:
            return None
        user = self.users.get(user_id)
        return {"user_id": user_id, "username": user["username"] if user else None}

    def username(self, user_id: str | None) -> str | None:
        user = self.users.get(user_id) if user_id else None
        return user["username"] if user else None

    def chat_record(self, chat_id: str) -> dict:
        """A chat as the export describes it: members and their history, read markers."""
        chat = self.chats.get(chat_id) or {"id": chat_id}
        reads = self.reads.get(chat_id, {})
        return {
            "id": chat_id, "kind": chat.get("kind"), "title": chat.get("title"),
            "created_by": self.person(chat.get("created_by")), "created_at": chat.get("created_at"),
            "member_ids": list(chat.get("member_ids") or ()),
            "former_member_ids": list(chat.get("former_member_ids") or ()),
            "membership": [dict(self.person(m["user_id"]), joined_at=m.get("joined_at"),
                                left_at=m.get("left_at"))
                           for m in chat.get("membership") or ()],
            "read_markers": [dict(self.person(uid), message_id=str(r["message_id"]),
                                  updated_at=r.get("updated_at"))
                             for uid, r in reads.items()],
        }

    def user_record(self, user: dict) -> dict:
        return {"id": user["id"], "username": user["username"],
                "display_name": user.get("display_name"), "is_admin": bool(user.get("is_admin")),
                "created_at": user.get("created_at")}


def _jv(value) -> str:
    """A JSON scalar exactly as json.dumps(ensure_ascii=False) writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js(value)
    return json.dumps(value, ensure_ascii=False)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Enricher:
    """Builds message records. ``record`` gives the dict (CSV, HTML); ``jsonl`` gives the
    same record already encoded as one JSON line, byte for byte what encoding ``record``
    with ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` gives, several times
    faster (fragments for the chat, the sender and the people are encoded once and reused):
    the export's hot path. Per-chat data is cached for the chat being walked."""

    def __init__(self, team: TeamContext):
        self.team = team
        self._people = {}
        self._frags = {}
        self._senders = {}
        self._chat_id = None

    def _person(self, uid):
        p = self._people.get(uid)
        if p is None:
            user = self.team.users.get(uid)
            p = self._people[uid] = {"user_id": uid, "username": user["username"] if user else None}
        return p

    def _frag(self, uid) -> str:
        f = self._frags.get(uid)
        if f is None:
            p = self._person(uid)
            f = self._frags[uid] = f'{{"user_id":{_jv(uid)},"username":{_jv(p["username"])}}}'
        return f

    def _sender(self, uid):
        s = self._senders.get(uid)
        if s is None:
            user = self.team.users.get(uid) or {}
            s = self._senders[uid] = (
                user.get("username"), user.get("display_name"),
                f'"sender_id":{_jv(uid)},"sender_username":{_jv(user.get("username"))},'
                f'"sender_display_name":{_jv(user.get("display_name"))}')
        return s

    def _enter(self, chat_id: str):
        self._chat_id = chat_id
        chat = self.team.chats.get(chat_id) or {}
        self._chat = (chat.get("title"), chat.get("kind"))
        self._chat_frag = (f'"chat_id":{_jv(chat_id)},"chat_title":{_jv(chat.get("title"))},'
                           f'"chat_kind":{_jv(chat.get("kind"))}')
        marks = sorted((r["message_id"], uid) for uid, r in self.team.reads.get(chat_id, {}).items())
        self._marks = marks
        self._mark_ids = [m for m, _ in marks]
        self._readers = {}

    def _read_by(self, mid: int):
        """(people whose read marker is at or after ``mid``, by user id; their JSON)."""
        i = bisect_left(self._mark_ids, mid)
        r = self._readers.get(i)
        if r is None:
            uids = sorted(uid for _, uid in self._marks[i:])
            r = self._readers[i] = ([self._person(u) for u in uids],
                                    "[" + ",".join(self._frag(u) for u in uids) + "]")
        return r

    def record(self, doc: dict) -> dict:
        chat_id = doc["chat_id"]
        if chat_id != self._chat_id:
            self._enter(chat_id)
        mid = int(doc["id"])
        sender_id = doc.get("sender_id")
        username, display_name, _ = self._sender(sender_id)
        deleted = bool(doc.get("deleted"))
        deleted_by = doc.get("deleted_by") if deleted else None
        log = {h.get("user_id"): h.get("at") for h in doc.get("hidden_log") or ()}
        return {
            "id": str(mid),
            "chat_id": chat_id,
            "chat_title": self._chat[0],
            "chat_kind": self._chat[1],
            "created_at": doc.get("created_at"),
            "sender_id": sender_id,
            "sender_username": username,
            "sender_display_name": display_name,
            "client_msg_id": doc.get("client_msg_id"),
            # The original text, also for a message deleted for everyone (its body is "").
            "body": (doc.get("deleted_body") if deleted else doc.get("body")) or "",
            "deleted": deleted,
            "deleted_at": doc.get("deleted_at") if deleted else None,
            "deleted_by": self._person(deleted_by) if deleted_by else None,
            "hidden_by": [dict(self._person(uid), at=log.get(uid)) for uid in doc.get("hidden_for") or ()],
            "liked_by": [self._person(uid) for uid in doc.get("liked_by") or ()],
            "read_by": self._read_by(mid)[0],
            **self._conversation(doc),
            **({"files": record_files(doc, self.with_files)} if doc.get("files") else {}),
        }

    def _conversation(self, doc: dict) -> dict:
        """Edits (every earlier text, with when it was written and replaced), the thread,
        and the reactions other than the like (which is liked_by)."""
        thread_id = doc.get("thread_id")
        return {
            "edited_at": doc.get("edited_at"),
            "versions": [{"body": v.get("body"), "at": v.get("at"), "until": v.get("until")}
                         for v in doc.get("versions") or ()],
            "thread_id": None if thread_id is None else str(thread_id),
            "also_in_chat": bool(doc.get("also_in_chat")),
            "reply_count": doc.get("reply_count") or 0,
            "reactions": [{"emoji": r["emoji"], "users": [self._person(u) for u in r.get("user_ids") or ()]}
                          for r in doc.get("reactions") or () if r.get("user_ids")],
        }

    # What _conversation gives a message that was never edited, replied to nor reacted to
    # (nearly all of them), already encoded.
    _PLAIN = (',"edited_at":null,"versions":[],"thread_id":null,"also_in_chat":false,'
              '"reply_count":0,"reactions":[]')

    def _conversation_json(self, doc: dict) -> str:
        get = doc.get
        if not (get("edited_at") or get("thread_id") is not None or get("reply_count") or get("reactions")):
            return self._PLAIN
        return "," + _dumps(self._conversation(doc))[1:-1]

    def jsonl(self, doc: dict) -> str:
        """``record(doc)`` as one JSON line (with its newline)."""
        get = doc.get
        chat_id = doc["chat_id"]
        if chat_id != self._chat_id:
            self._enter(chat_id)
        mid = int(doc["id"])
        frag = self._frag
        if get("deleted"):
            body = get("deleted_body")
            by = get("deleted_by")
            deleted = (f',"deleted":true,"deleted_at":{_jv(get("deleted_at"))},'
                       f'"deleted_by":{frag(by) if by else "null"}')
        else:
            body = get("body")
            deleted = ',"deleted":false,"deleted_at":null,"deleted_by":null'
        hidden = get("hidden_for")
        if hidden:
            log = {h.get("user_id"): h.get("at") for h in get("hidden_log") or ()}
            hidden = ",".join(f'{frag(u)[:-1]},"at":{_jv(log.get(u))}}}' for u in hidden)
        likes = get("liked_by")
        created = get("created_at")
        client_id = get("client_msg_id")
        sender = self._senders.get(get("sender_id")) or self._sender(get("sender_id"))
        readers = self._read_by(mid)[1] if self._mark_ids else "[]"
        return "".join((
            '{"id":"', str(mid), '",', self._chat_frag,
            ',"created_at":', _js(created) if created is not None else "null", ",",
            sender[2],
            ',"client_msg_id":', _js(client_id) if client_id is not None else "null",
            ',"body":', _js(body or ""), deleted,
            ',"hidden_by":[', hidden or "", ']',
            ',"liked_by":[', ",".join(map(frag, likes)) if likes else "", ']',
            ',"read_by":', readers, self._conversation_json(doc), self._files_json(doc), "}\n"))

    with_files = True   # attachments copied (paths given) unless the export says --no-files

    def _files_json(self, doc: dict) -> str:
        if not doc.get("files"):
            return ""
        return ',"files":' + _dumps(record_files(doc, self.with_files))
