"""Output formats. Each writer appends message records page by page, can report the size
of every file it has written (a checkpoint: everything up to there is flushed), and can
start again from such a checkpoint after its files were cut back to those sizes (resume).

  jsonl  messages.jsonl (one JSON object per message, in chat then id order),
         chats.jsonl (titles, membership history, read markers, counts), users.jsonl
  csv    messages.csv (one row per message), chats.csv (one row per membership period,
         with that member's read marker), users.csv. RFC 4180 (csv module, CRLF, quoted
         as needed), UTF-8 without BOM. A cell beginning with = + - @ tab or CR is prefixed
         with ' so no spreadsheet runs it as a formula (OWASP's CSV injection advice).
  html   index.html and one chat-<id>.html transcript per chat; every text is escaped.
"""
import csv
import html
import json
import os

from chatsvc.markdown import to_html

BUFFER = 1 << 20


def _size(f) -> int:
    f.flush()
    return os.fstat(f.fileno()).st_size


class Writer:
    format = ""
    extension = ""

    def __init__(self, out_dir: str, team, counts: dict, meta: dict):
        self.out_dir = out_dir
        self.team = team
        self.counts = counts      # {chat_id: {"count", "first_id", "last_id"}}, kept by run.py
        self.meta = meta          # team, filters, snapshot: for headers of human-readable files
        self.files: dict[str, object] = {}   # open files by name
        self.done: dict[str, int] = {}       # closed files: their final sizes

    def path(self, name: str) -> str:
        return os.path.join(self.out_dir, name)

    def _open(self, name: str, text: bool = False):
        if text:
            f = open(self.path(name), "a", encoding="utf-8", newline="", buffering=BUFFER)
        else:
            f = open(self.path(name), "ab", buffering=BUFFER)
        self.files[name] = f
        self.done.pop(name, None)
        return f

    def _close(self, name: str):
        f = self.files.pop(name)
        self.done[name] = _size(f)
        f.close()

    def begin(self, resume: dict | None):
        """Start writing; with ``resume``, after the files of its checkpoint."""
        if resume is not None:
            self.done = dict(resume["files"])
        self.start(resume)

    def start(self, resume: dict | None):
        """Open the output. ``resume``: the checkpoint being continued (files already cut
        back to its sizes) with ``chat_id``, the chat of the last message written."""
        raise NotImplementedError

    def write(self, records: list[dict]):
        raise NotImplementedError

    def checkpoint(self) -> dict[str, int]:
        """Flush; {file name: size} of every file written so far."""
        sizes = dict(self.done)
        for name, f in self.files.items():
            sizes[name] = _size(f)
        return sizes

    def finish(self, chat_ids: list[str]):
        """Write the per-chat and per-user files; close everything."""
        raise NotImplementedError

    def close(self):
        for f in self.files.values():
            try:
                f.close()
            except OSError:
                pass
        self.files.clear()

    def chat_summary(self, chat_id: str) -> dict:
        c = self.counts.get(chat_id) or {}
        return {"messages": c.get("count", 0), "first_id": c.get("first_id"),
                "last_id": c.get("last_id")}


# ------------------------------------------------------------------------------ JSON Lines

class JsonLinesWriter(Writer):
    format, extension = "jsonl", "jsonl"
    MESSAGES = "messages.jsonl"

    def start(self, resume):
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self.out = self._open(self.MESSAGES)

    def write(self, records):
        encode = self._encode
        self.out.write("".join([encode(r) + "\n" for r in records]).encode("utf-8"))

    def write_lines(self, text: str):
        """Records already encoded by Enricher.jsonl (the fast path)."""
        self.out.write(text.encode("utf-8"))

    def finish(self, chat_ids):
        self._close(self.MESSAGES)
        with open(self.path("chats.jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for cid in chat_ids:
                f.write(self._encode(dict(self.team.chat_record(cid), **self.chat_summary(cid))) + "\n")
        with open(self.path("users.jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for user in self.team.users.values():
                f.write(self._encode(self.team.user_record(user)) + "\n")
        self.done["chats.jsonl"] = os.path.getsize(self.path("chats.jsonl"))
        self.done["users.jsonl"] = os.path.getsize(self.path("users.jsonl"))


# ------------------------------------------------------------------------------ CSV

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet will show as text: ' before = + - @ tab CR."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _names(people) -> str:
    return " ".join(p["username"] or p["user_id"] for p in people)


def _versions_cell(versions) -> str:
    """Every earlier text of an edited message, oldest first, with when it was written."""
    return json.dumps([{"body": v["body"], "at": v["at"]} for v in versions], ensure_ascii=False) \
        if versions else ""


MESSAGE_COLUMNS = ["id", "chat_id", "chat_title", "chat_kind", "created_at", "sender_id",
                   "sender_username", "sender_display_name", "client_msg_id", "body", "deleted",
                   "deleted_at", "deleted_by", "hidden_by", "liked_by", "like_count", "read_by",
                   "edited_at", "earlier_versions", "thread_id", "reply_count", "reactions"]
CHAT_COLUMNS = ["chat_id", "chat_title", "chat_kind", "chat_created_at", "user_id", "username",
                "joined_at", "left_at", "read_up_to", "read_at", "messages", "first_id", "last_id"]
USER_COLUMNS = ["id", "username", "display_name", "is_admin", "created_at"]


class CsvWriter(Writer):
    format, extension = "csv", "csv"
    MESSAGES = "messages.csv"

    def start(self, resume):
        f = self._open(self.MESSAGES, text=True)
        self.csv = csv.writer(f)   # RFC 4180: CRLF line ends, fields quoted as needed
        if resume is None:
            self.csv.writerow(MESSAGE_COLUMNS)

    def write(self, records):
        rows = []
        for r in records:
            deleted_by = r["deleted_by"]
            rows.append([safe_cell(v) for v in (
                r["id"], r["chat_id"], r["chat_title"], r["chat_kind"], r["created_at"],
                r["sender_id"], r["sender_username"], r["sender_display_name"],
                r["client_msg_id"], r["body"], r["deleted"], r["deleted_at"],
                (deleted_by["username"] or deleted_by["user_id"]) if deleted_by else None,
                "; ".join(f"{p['username'] or p['user_id']} at {p['at'] or '?'}" for p in r["hidden_by"]),
                _names(r["liked_by"]), len(r["liked_by"]), _names(r["read_by"]),
                r["edited_at"], _versions_cell(r["versions"]), r["thread_id"], r["reply_count"],
                "; ".join(f"{x['emoji']} {_names(x['users'])}" for x in r["reactions"]))])
        self.csv.writerows(rows)

    def finish(self, chat_ids):
        self._close(self.MESSAGES)
        with open(self.path("chats.csv"), "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(CHAT_COLUMNS)
            for cid in chat_ids:
                chat = self.team.chat_record(cid)
                s = self.chat_summary(cid)
                marks = {m["user_id"]: m for m in chat["read_markers"]}
                for m in chat["membership"] or [{"user_id": None, "username": None}]:
                    mark = marks.get(m["user_id"], {})
                    w.writerow([safe_cell(v) for v in (
                        cid, chat["title"], chat["kind"], chat["created_at"], m["user_id"],
                        m["username"], m.get("joined_at"), m.get("left_at"),
                        mark.get("message_id"), mark.get("updated_at"),
                        s["messages"], s["first_id"], s["last_id"])])
        with open(self.path("users.csv"), "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(USER_COLUMNS)
            for user in self.team.users.values():
                u = self.team.user_record(user)
                w.writerow([safe_cell(u[k]) for k in USER_COLUMNS])
        for name in ("chats.csv", "users.csv"):
            self.done[name] = os.path.getsize(self.path(name))


# ------------------------------------------------------------------------------ HTML

E = html.escape
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.5em} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
.msg{border-bottom:1px solid #eee;padding:6px 0} .meta{color:#666;font-size:.9em}
.body{white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0}
.deleted .body{text-decoration:line-through;color:#a00} .flag{color:#a00;font-size:.9em}
.hidden{color:#a60;font-size:.9em} .likes,.reads{color:#357;font-size:.9em}
"""


def _who(p) -> str:
    if not p:
        return "?"
    return E(p.get("username") or p.get("user_id") or "?")


def _page_head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{E(title)}</title><style>{STYLE}</style></head><body>\n")


class HtmlWriter(Writer):
    format, extension = "html", "html"

    def start(self, resume):
        self.current = None
        if resume is not None and resume.get("chat_id"):
            self.current = resume["chat_id"]
            self.out = self._open(self._name(self.current), text=True)

    @staticmethod
    def _name(chat_id: str) -> str:
        return f"chat-{chat_id}.html"

    def _chat_title(self, chat: dict) -> str:
        if chat.get("title"):
            return chat["title"]
        names = [m["username"] or m["user_id"] for m in chat["membership"]]
        return ", ".join(names) or f"chat {chat['id']}"

    def _header(self, chat_id: str) -> str:
        chat = self.team.chat_record(chat_id)
        team = self.meta["team"]
        parts = [_page_head(f"{self._chat_title(chat)} - {team['name']}"),
                 f"<h1>{E(self._chat_title(chat))}</h1>\n",
                 f'<p class="meta">Team {E(team["name"])} ({E(team["id"])}) &middot; '
                 f"{E(chat['kind'] or '?')} chat {E(chat_id)} &middot; created "
                 f"{E(chat['created_at'] or '?')} by {_who(chat['created_by'])} &middot; "
                 f"snapshot {E(self.meta['snapshot_time'])}</p>\n",
                 "<h2>Membership</h2>\n<table><tr><th>Member</th><th>Display name</th>"
                 "<th>Joined</th><th>Left</th></tr>\n"]
        for m in chat["membership"]:
            user = self.team.users.get(m["user_id"]) or {}
            parts.append(f"<tr><td>{_who(m)}</td><td>{E(user.get('display_name') or '')}</td>"
                         f"<td>{E(m.get('joined_at') or '')}</td><td>{E(m.get('left_at') or '')}</td></tr>\n")
        parts.append("</table>\n<h2>Read markers</h2>\n<table><tr><th>Member</th>"
                     "<th>Read up to message</th><th>At</th></tr>\n")
        for r in chat["read_markers"]:
            parts.append(f"<tr><td>{_who(r)}</td><td>{E(r['message_id'])}</td>"
                         f"<td>{E(r.get('updated_at') or '')}</td></tr>\n")
        parts.append("</table>\n<h2>Messages</h2>\n")
        return "".join(parts)

    def _footer(self, chat_id: str) -> str:
        s = self.chat_summary(chat_id)
        return (f'<p class="meta">{s["messages"]} message(s) exported'
                + (f", ids {E(s['first_id'])} to {E(s['last_id'])}" if s["first_id"] else "")
                + ".</p>\n</body></html>\n")

    def _switch(self, chat_id: str):
        if self.current is not None:
            self.out.write(self._footer(self.current))
            self._close(self._name(self.current))
        self.current = chat_id
        self.out = self._open(self._name(chat_id), text=True)
        self.out.write(self._header(chat_id))

    def _message(self, r: dict) -> str:
        classes = "msg deleted" if r["deleted"] else "msg"
        sender = E(r["sender_display_name"] or "") + f" (@{E(r['sender_username'] or r['sender_id'] or '?')})"
        out = [f'<div class="{classes}" id="m{E(r["id"])}"><div class="meta">'
               f'<time>{E(r["created_at"] or "")}</time> &middot; <b>{sender}</b> &middot; '
               f"#{E(r['id'])}</div>"
               f'<div class="body">{to_html(r["body"] or "")}</div>']
        if r["deleted"]:
            out.append(f'<div class="flag">Deleted for everyone by {_who(r["deleted_by"])} at '
                       f'{E(r["deleted_at"] or "?")}</div>')
        for h in r["hidden_by"]:
            out.append(f'<div class="hidden">Hidden by {_who(h)} at {E(h.get("at") or "?")}</div>')
        if r["thread_id"]:
            out.append(f'<div class="thread">Reply in the thread of <a href="#m{E(r["thread_id"])}">'
                       f'#{E(r["thread_id"])}</a>' + (" (also sent to the chat)" if r["also_in_chat"] else "")
                       + "</div>")
        if r["reply_count"]:
            out.append(f'<div class="thread">{r["reply_count"]} repl{"y" if r["reply_count"] == 1 else "ies"}'
                       " in its thread</div>")
        if r["edited_at"]:
            out.append(f'<div class="edited">Edited at {E(r["edited_at"])}; earlier versions:<ol>'
                       + "".join(f'<li><time>{E(v["at"] or "?")}</time> {to_html(v["body"] or "")}</li>'
                                 for v in r["versions"]) + "</ol></div>")
        if r["liked_by"]:
            out.append('<div class="likes">Liked by ' + ", ".join(_who(p) for p in r["liked_by"]) + "</div>")
        for x in r["reactions"]:
            out.append(f'<div class="reactions">{E(x["emoji"])} by ' + ", ".join(_who(p) for p in x["users"])
                       + "</div>")
        if r["read_by"]:
            out.append('<div class="reads">Read by ' + ", ".join(_who(p) for p in r["read_by"]) + "</div>")
        out.append("</div>\n")
        return "".join(out)

    def write(self, records):
        for r in records:
            if r["chat_id"] != self.current:
                self._switch(r["chat_id"])
            self.out.write(self._message(r))

    def finish(self, chat_ids):
        if self.current is not None:
            self.out.write(self._footer(self.current))
            self._close(self._name(self.current))
            self.current = None
        for cid in chat_ids:   # chats in scope with nothing exported still get a transcript
            name = self._name(cid)
            if name not in self.done:
                with open(self.path(name), "w", encoding="utf-8", newline="") as f:
                    f.write(self._header(cid) + "<p>(no messages)</p>\n" + self._footer(cid))
                self.done[name] = os.path.getsize(self.path(name))
        team = self.meta["team"]
        parts = [_page_head(f"Export of {team['name']}"),
                 f"<h1>Export of team {E(team['name'])}</h1>\n"
                 f'<p class="meta">Team id {E(team["id"])} &middot; snapshot '
                 f"{E(self.meta['snapshot_time'])} &middot; filters "
                 f"<code>{E(json.dumps(self.meta['filters'], ensure_ascii=False))}</code></p>\n"
                 "<table><tr><th>Chat</th><th>Kind</th><th>Messages</th><th>First id</th>"
                 "<th>Last id</th></tr>\n"]
        for cid in sorted(set(chat_ids) | {n[5:-5] for n in self.done if n.startswith("chat-")}):
            chat = self.team.chat_record(cid)
            s = self.chat_summary(cid)
            parts.append(f'<tr><td><a href="{E(self._name(cid))}">{E(self._chat_title(chat))}</a></td>'
                         f"<td>{E(chat['kind'] or '')}</td><td>{s['messages']}</td>"
                         f"<td>{E(s['first_id'] or '')}</td><td>{E(s['last_id'] or '')}</td></tr>\n")
        parts.append("</table>\n</body></html>\n")
        with open(self.path("index.html"), "w", encoding="utf-8", newline="") as f:
            f.write("".join(parts))
        self.done["index.html"] = os.path.getsize(self.path("index.html"))


WRITERS = {w.format: w for w in (JsonLinesWriter, CsvWriter, HtmlWriter)}
