"""Global Relay EML: one RFC 5322 e-mail per chat and batch, in ``globalrelay.zip``, and
optionally sent by SMTP to the archive's address.

An e-mail (the shape Global Relay takes, as Mattermost's export writes it):
  From: the chat's first member; To: every member (``<username>@<email_domain>``)
  Subject: chatsvc compliance export: <chat title>; Date: its last message's time
  Message-ID: <chat.batch.snapshot-id@chatsvc.export> (the same on a re-send: the archive
  can drop duplicates); Auto-Submitted, Precedence: bulk; X-GlobalRelay-MsgType: chatsvc
  X-Chatsvc-Chat-ID, -Chat-Name, -Chat-Type, -Team, -Batch, -Message-Count, -First-ID, -Last-ID
  multipart/mixed
    multipart/alternative
      text/plain; charset=utf-8 (quoted-printable): the conversation, its members (joined,
        left), then each message with its time, sender, id and original text; edits (every
        earlier version), deletion for everyone (kept, and marked: Mattermost drops deleted
        messages from Global Relay, chatsvc does not), hides, thread, likes, reactions
      text/html; charset=utf-8 (quoted-printable): the same as a page, every text escaped
    the files of its messages are named in its text (with their path under files/ of the
      export, where export/attachments.py copies them), not embedded

Message text goes through quoted-printable byte for byte (line ends included), so the parts
decode to exactly what was written. A chat's messages are split into batches so that no
e-mail's parts pass ``eml_max_bytes`` (default 25 MiB; a message alone bigger than that gets
an e-mail of its own).

While the export runs, the open batch is spooled in three append-only files (its text part,
its HTML part, and one line per message) that the checkpoint covers, so an interrupted
export resumes inside a batch; a batch is written out as ``gr-<chat>-<n>.eml`` when it is
full or its chat ends, and at the end the e-mails are packed into the zip (named like
``<title> - (<chat id>) - <n>.eml``), delivered, and the loose files removed.
"""
import binascii
import html
import os
import re
import smtplib
import uuid
import zipfile
from email.header import Header
from email.utils import format_datetime, formataddr
from datetime import datetime, timezone

from chatsvc.export.errors import ExportError
from chatsvc.export.writers import Writer
from chatsvc.export.xmltext import iso_ms

ZIP = "globalrelay.zip"
MAX_BYTES = 25 << 20
EMAILS_PER_CONNECTION = 400
EXIT_DELIVERY = 7
E = html.escape


def delivery_failed(message: str) -> ExportError:
    return ExportError(EXIT_DELIVERY, message)


def _qp(text: str) -> bytes:
    """Quoted-printable of ``text`` in binary mode (line ends encoded too, so it decodes to
    exactly ``text``), ending with a soft line break so chunks can be concatenated."""
    q = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=False).replace(b"=\n", b"=\r\n")
    last = q.rfind(b"\n") + 1
    if len(q) - last > 75:   # room for the closing "=" within 76 characters
        cut = last + 73
        if q[cut - 1:cut] == b"=":
            cut -= 1
        elif q[cut - 2:cut - 1] == b"=":
            cut -= 2
        q = q[:cut] + b"=\r\n" + q[cut:]
    return q + b"=\r\n"


def _header(value: str) -> str:
    """A header value: as is when ASCII, else RFC 2047 encoded."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _who(p) -> str:
    return (p or {}).get("username") or (p or {}).get("user_id") or "?"


class GlobalRelayWriter(Writer):
    format, extension = "globalrelay", "eml"

    def start(self, resume):
        opts = self.meta.get("options") or {}
        self.max_bytes = int(opts.get("eml_max_bytes") or MAX_BYTES)
        self.domain = opts.get("email_domain") or "chatsvc.invalid"
        self.smtp = opts.get("smtp")
        self.smtp_to = opts.get("smtp_to")
        self.smtp_from = opts.get("smtp_from")
        self.bound = str(self.meta.get("snapshot_max_id") or "0")
        self.chat = None      # the chat of the open (or last) batch
        self.batch = -1       # its number
        self.open = False     # a batch is open (its spools are in self.files)
        self.size = 0         # bytes of its parts so far
        self.delivery = None
        if resume is not None and resume.get("chat_id"):
            chat = resume["chat_id"]
            numbers = [int(m.group(1)) for name in resume["files"]
                       if (m := re.fullmatch(rf"gr-{re.escape(chat)}-(\d+)\.ids\.part", name))]
            if numbers:
                self.chat, self.batch = chat, max(numbers)
                if self._name(self.batch, "eml") not in resume["files"]:
                    self._reopen_batch()

    # -- names ---------------------------------------------------------------------------
    def _name(self, n: int, what: str, chat: str | None = None) -> str:
        chat = chat or self.chat
        return f"gr-{chat}-{n}.eml" if what == "eml" else f"gr-{chat}-{n}.{what}.part"

    def _address(self, person) -> str:
        user = self.team.users.get((person or {}).get("user_id")) or {}
        login = _who(person)
        return formataddr((user.get("display_name") or login, f"{login}@{self.domain}"))

    # -- a batch -------------------------------------------------------------------------
    def _new_batch(self, chat_id: str):
        if chat_id != self.chat:
            self.chat, self.batch = chat_id, -1
        self.batch += 1
        self.open = True
        self.text = self._open(self._name(self.batch, "txt"))
        self.html = self._open(self._name(self.batch, "html"))
        self.ids = self._open(self._name(self.batch, "ids"))
        head_t, head_h = self._heads()
        self.text.write(_qp(head_t))
        self.html.write(_qp(head_h))
        self.size = self.text.tell() + self.html.tell()

    def _reopen_batch(self):
        self.open = True
        self.text = self._open(self._name(self.batch, "txt"))
        self.html = self._open(self._name(self.batch, "html"))
        self.ids = self._open(self._name(self.batch, "ids"))
        self.size = self.text.tell() + self.html.tell()

    def _heads(self) -> tuple[str, str]:
        chat = self.team.chat_record(self.chat)
        team = self.meta["team"]
        title = self._title(chat)
        lines = [f"Conversation: {title}", f"Chat: {chat['kind'] or '?'} chat {self.chat} of team "
                 f"{team['name']} ({team['id']})", f"Created: {chat['created_at'] or '?'} by "
                 f"{_who(chat['created_by'])}", f"Exported: snapshot {self.meta['snapshot_time']}, "
                 f"batch {self.batch + 1}", "", "Participants:"]
        rows = []
        for m in chat["membership"]:
            user = self.team.users.get(m["user_id"]) or {}
            lines.append(f"  {_who(m)} ({user.get('display_name') or ''}) joined {m.get('joined_at') or '?'}"
                         + (f", left {m['left_at']}" if m.get("left_at") else ""))
            rows.append(f"<tr><td>{E(_who(m))}</td><td>{E(user.get('display_name') or '')}</td>"
                        f"<td>{E(m.get('joined_at') or '')}</td><td>{E(m.get('left_at') or '')}</td></tr>")
        lines += ["", "Messages:", "", ""]
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{E(title)}</title></head>'
                f"<body>\r\n<h1>{E(title)}</h1>\r\n<p>{E(chat['kind'] or '?')} chat {E(self.chat)} of team "
                f"{E(team['name'])} ({E(team['id'])}); snapshot {E(self.meta['snapshot_time'])}; batch "
                f"{self.batch + 1}</p>\r\n<h2>Participants</h2>\r\n<table><tr><th>Member</th><th>Name</th>"
                f"<th>Joined</th><th>Left</th></tr>{''.join(rows)}</table>\r\n<h2>Messages</h2>\r\n")
        return "\r\n".join(lines), page

    @staticmethod
    def _title(chat: dict) -> str:
        return chat["title"] or ", ".join(_who(m) for m in chat["membership"]) or f"chat {chat['id']}"

    def _close_batch(self):
        """Write the open batch's e-mail from its spools."""
        if not self.open:
            return
        for name in (self._name(self.batch, w) for w in ("txt", "html", "ids")):
            self._close(name)
        with open(self.path(self._name(self.batch, "ids")), encoding="utf-8") as f:
            entries = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        chat = self.team.chat_record(self.chat)
        members = chat["membership"] or [{"user_id": None, "username": "unknown"}]
        seen, to = set(), []
        for m in members:
            if m["user_id"] not in seen:
                seen.add(m["user_id"])
                to.append(self._address(m))
        last = entries[-1][1] if entries else self.meta["snapshot_time"]
        when = datetime.fromtimestamp((iso_ms(last) or 0) / 1000, timezone.utc)
        mixed, alt = f"=_chatsvc_mixed_{uuid.uuid4().hex}", f"=_chatsvc_alt_{uuid.uuid4().hex}"
        team = self.meta["team"]
        headers = [
            ("From", to[0]), ("To", ", ".join(to)),
            ("Subject", _header(f"chatsvc compliance export: {self._title(chat)}")),
            ("Date", format_datetime(when)),
            ("Message-ID", f"<{self.chat}.{self.batch}.{self.bound}@chatsvc.export>"),
            ("MIME-Version", "1.0"), ("Auto-Submitted", "auto-generated"), ("Precedence", "bulk"),
            ("X-GlobalRelay-MsgType", "chatsvc"),
            ("X-Chatsvc-Chat-ID", self.chat), ("X-Chatsvc-Chat-Name", _header(self._title(chat))),
            ("X-Chatsvc-Chat-Type", chat["kind"] or "unknown"),
            ("X-Chatsvc-Team", _header(f"{team['name']} ({team['id']})")),
            ("X-Chatsvc-Batch", str(self.batch + 1)),
            ("X-Chatsvc-Message-Count", str(len(entries))),
            ("X-Chatsvc-First-ID", entries[0][0] if entries else "none"),
            ("X-Chatsvc-Last-ID", entries[-1][0] if entries else "none"),
            ("Content-Type", f'multipart/mixed; boundary="{mixed}"'),
        ]
        part = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        with open(self.path(self._name(self.batch, "eml")), "wb") as out:
            out.write("".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8") + b"\r\n")
            out.write(f"--{mixed}\r\nContent-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n"
                      f"--{alt}\r\n{part.format('plain')}".encode())
            self._copy(self._name(self.batch, "txt"), out)
            out.write(f"\r\n--{alt}\r\n{part.format('html')}".encode())
            self._copy(self._name(self.batch, "html"), out)
            out.write(_qp("</body></html>\r\n") + f"\r\n--{alt}--\r\n".encode())
            # attachments are not embedded: they are in files/ of the export (export/attachments.py)
            out.write(f"\r\n--{mixed}--\r\n".encode())
        self.done[self._name(self.batch, "eml")] = os.path.getsize(self.path(self._name(self.batch, "eml")))
        self.open = False

    def _copy(self, name: str, out):
        with open(self.path(name), "rb") as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)

    # -- messages ------------------------------------------------------------------------
    def _render(self, r: dict) -> tuple[str, str]:
        who = f"{r['sender_username'] or r['sender_id'] or '?'} ({r['sender_display_name'] or ''})"
        notes = []
        if r["deleted"]:
            notes.append(f"DELETED for everyone by {_who(r['deleted_by'])} at {r['deleted_at'] or '?'}"
                         " (the original text is above)")
        for h in r["hidden_by"]:
            notes.append(f"hidden for themselves by {_who(h)} at {h.get('at') or '?'}")
        if r["edited_at"] or r["versions"]:
            notes.append(f"edited at {r['edited_at'] or '?'}; earlier versions:")
        if r["thread_id"]:
            notes.append(f"reply in the thread of #{r['thread_id']}" + (" (also sent to the chat)" if r["also_in_chat"] else ""))
        if r["reply_count"]:
            notes.append(f"{r['reply_count']} repl{'y' if r['reply_count'] == 1 else 'ies'} in its thread")
        if r["liked_by"]:
            notes.append("liked by " + ", ".join(_who(p) for p in r["liked_by"]))
        for x in r["reactions"]:
            notes.append(f"reaction {x['emoji']} by " + ", ".join(_who(p) for p in x["users"]))
        for f in r.get("files") or ():
            notes.append(f"file {f.get('name')} ({f.get('path') or 'not exported'})")
        text = [f"[{r['created_at']}] {who} #{r['id']}:\r\n", r["body"], "\r\n"]
        page = [f'<div class="msg{" deleted" if r["deleted"] else ""}" id="m{E(r["id"])}"><p><time>'
                f"{E(r['created_at'] or '')}</time> <b>{E(who)}</b> #{E(r['id'])}</p>"
                f'<div class="body" style="white-space:pre-wrap">{E(r["body"])}</div>']
        for note in notes:
            text.append(f"  ({note})\r\n")
            page.append(f"<p><i>{E(note)}</i></p>")
            if note.startswith("edited at"):
                for v in r["versions"]:
                    text.append(f"    [{v['at'] or '?'}] {v['body']}\r\n")
                    page.append(f'<blockquote><time>{E(v["at"] or "?")}</time> '
                                f'<span style="white-space:pre-wrap">{E(v["body"] or "")}</span></blockquote>')
        text.append("\r\n")
        page.append("</div>\r\n")
        return "".join(text), "".join(page)

    def write(self, records):
        for r in records:
            text, page = self._render(r)
            qt, qh = _qp(text), _qp(page)
            grows = len(qt) + len(qh)
            if not self.open or r["chat_id"] != self.chat:
                self._close_batch()
                self._new_batch(r["chat_id"])
            elif self.size + grows > self.max_bytes and self.ids.tell() > 0:
                self._close_batch()
                self._new_batch(r["chat_id"])
            self.text.write(qt)
            self.html.write(qh)
            self.ids.write(f"{r['id']}\t{r['created_at']}\n".encode())
            self.size += grows

    def finish(self, chat_ids):
        self._close_batch()
        emails = sorted((n for n in self.done if n.endswith(".eml")),
                        key=lambda n: (n.split("-")[1], int(n.rsplit("-", 1)[1][:-4])))
        with zipfile.ZipFile(self.path(ZIP), "w", zipfile.ZIP_DEFLATED) as z:
            for name in emails:
                _, chat_id, n = name[:-4].split("-")
                title = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", self._title(self.team.chat_record(chat_id)))[:80]
                info = zipfile.ZipInfo(f"{title} - ({chat_id}) - {int(n) + 1}.eml",
                                       date_time=datetime.now(timezone.utc).timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                with z.open(info, "w") as dst, open(self.path(name), "rb") as src:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
        self.done[ZIP] = os.path.getsize(self.path(ZIP))
        self.delivery = {"method": "zip", "file": ZIP, "emails": len(emails)}
        if self.smtp:
            self.delivery = dict(self._send(emails), method="smtp", file=ZIP)
        for name in list(self.done):
            if name != ZIP:
                os.remove(self.path(name))
                del self.done[name]

    def _send(self, emails: list[str]) -> dict:
        host, _, port = str(self.smtp).rpartition(":")
        sender = self.smtp_from or f"chatsvc-export@{self.domain}"
        sent = 0
        try:
            for i in range(0, len(emails), EMAILS_PER_CONNECTION):
                with smtplib.SMTP(host or "127.0.0.1", int(port or 25), timeout=60) as smtp:
                    for name in emails[i:i + EMAILS_PER_CONNECTION]:
                        with open(self.path(name), "rb") as f:
                            smtp.sendmail(sender, [self.smtp_to], f.read())
                        sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            raise delivery_failed(f"SMTP delivery to {self.smtp_to} via {self.smtp} failed after "
                                  f"{sent} of {len(emails)} e-mails: {exc}; the e-mails are kept: "
                                  "continue with --resume") from None
        return {"server": self.smtp, "to": self.smtp_to, "from": sender, "emails": sent}
