"""Actiance (Smarsh Vantage) XML: ``actiance.xml``, one ``FileDump`` of one
``Conversation`` per chat, validated by ``actiance.xsd`` beside this file.

Structure (the public shape of the format, as Mattermost's compliance export writes it):

  <FileDump xmlns:xsi="...">
    <Conversation Perspective="chat title">
      <RoomID>chat id</RoomID>
      <StartTimeUTC>s</StartTimeUTC>              the chat's creation, or --since if later
      <ParticipantEntered>                         one per membership period (joined_at)
        <LoginName/><UserType>user</UserType><DateTimeUTC>s</DateTimeUTC><CorporateEmailID/>
      </ParticipantEntered>
      <Message>                                    one per message, in id order
        <MessageId/><LoginName/><UserType/><DateTimeUTC>ms</DateTimeUTC>
        <UpdatedType/><UpdatedDateTimeUTC>ms</UpdatedDateTimeUTC>   when edited or deleted
        <EditedNewMsgId/>                          on an earlier version: the message it became
        <Content/>
        chatsvc's own, optional: ThreadId, ReplyCount, DeletedBy, HiddenBy, Likes, Reactions
      </Message>
      <FileTransferStarted/><FileTransferEnded/>   per file of a message (see below)
      <ParticipantLeft>                            one per membership period: left_at, or the
        ...                                        end of the export for who is still there
      </ParticipantLeft>
      <EndTimeUTC>s</EndTimeUTC>                   the export's snapshot time
    </Conversation>
  </FileDump>

Conversation times are Unix seconds, message times Unix milliseconds (as the format has it).
An edited message gives one Message per earlier version (UpdatedType EditedOriginalMsg, its
MessageId ``<id>.v<n>``, EditedNewMsgId the message's id, DateTimeUTC when that text was
written, UpdatedDateTimeUTC when it was replaced) before the message itself (EditedNewMsg,
UpdatedDateTimeUTC = edited_at). A message deleted for everyone is kept with its original
text and UpdatedType Deleted (UpdatedDateTimeUTC = deleted_at, DeletedBy = who).

Files: a record's ``files`` ([{name, path, size, sha256, ...}]; ``path`` is
``files/<sha256>`` in the export folder, null with --no-files: export/attachments.py)
become FileTransferStarted/FileTransferEnded pairs after the message.

Resumable like the HTML transcripts: the file is append-only; a resumed run reopens it and
continues inside the chat it was in.
"""
import os

from chatsvc.export.writers import Writer
from chatsvc.export.xmltext import iso_ms, iso_s, xml_attr, xml_text

XSD = os.path.join(os.path.dirname(__file__), "actiance.xsd")
FILE = "actiance.xml"
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<FileDump xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')
TAIL = "</FileDump>\n"


def _el(name: str, value) -> str:
    return f"<{name}>{xml_text(value)}</{name}>"


class ActianceWriter(Writer):
    format, extension = "actiance", "xml"

    def start(self, resume):
        self.current = None
        self.out = self._open(FILE, text=True)
        if resume is None:
            self.out.write(HEAD)
        elif resume.get("chat_id"):
            self.current = resume["chat_id"]
        self.end_s = iso_s(self.meta["snapshot_time"])
        self.domain = (self.meta.get("options") or {}).get("email_domain") or "chatsvc.invalid"
        since = (self.meta.get("filters") or {}).get("since")
        self.since_s = None
        if since:
            from chatsvc.export.filters import _parse_moment  # noqa: PLC0415
            self.since_s = int(_parse_moment("--since", since)[0].timestamp())

    # -- people ------------------------------------------------------------------------
    def _login(self, person) -> str:
        if not person:
            return "unknown"
        return person.get("username") or person.get("user_id") or "unknown"

    def _participant(self, tag: str, person: dict, when_s) -> str:
        login = self._login(person)
        return (f"    <{tag}>{_el('LoginName', login)}<UserType>user</UserType>"
                f"{_el('DateTimeUTC', when_s if when_s is not None else self.end_s)}"
                f"{_el('CorporateEmailID', f'{login}@{self.domain}')}</{tag}>\n")

    # -- conversations -----------------------------------------------------------------
    def _open_conversation(self, chat_id: str) -> str:
        chat = self.team.chat_record(chat_id)
        title = chat["title"] or ", ".join(self._login(m) for m in chat["membership"]) or f"chat {chat_id}"
        start = iso_s(chat["created_at"]) or self.end_s
        if self.since_s is not None and self.since_s > start:
            start = self.since_s
        parts = [f'  <Conversation Perspective="{xml_attr(title)}">\n',
                 f"    {_el('RoomID', chat_id)}\n", f"    {_el('StartTimeUTC', start)}\n"]
        for m in chat["membership"]:
            parts.append(self._participant("ParticipantEntered", m, iso_s(m.get("joined_at"))))
        return "".join(parts)

    def _close_conversation(self, chat_id: str) -> str:
        chat = self.team.chat_record(chat_id)
        parts = [self._participant("ParticipantLeft", m, iso_s(m.get("left_at")))
                 for m in chat["membership"]]
        parts.append(f"    {_el('EndTimeUTC', self.end_s)}\n  </Conversation>\n")
        return "".join(parts)

    def _message(self, r: dict) -> str:
        login = r["sender_username"] or r["sender_id"] or "unknown"
        sent_ms = iso_ms(r["created_at"])
        common = f"{_el('LoginName', login)}<UserType>user</UserType>"
        out = []
        versions = r["versions"]
        for i, v in enumerate(versions, 1):
            out.append(f"    <Message>{_el('MessageId', r['id'] + '.v' + str(i))}{common}"
                       f"{_el('DateTimeUTC', iso_ms(v['at']) or sent_ms)}"
                       "<UpdatedType>EditedOriginalMsg</UpdatedType>"
                       f"{_el('UpdatedDateTimeUTC', iso_ms(v['until']) or iso_ms(r['edited_at']) or sent_ms)}"
                       f"{_el('EditedNewMsgId', r['id'])}{_el('Content', v['body'])}</Message>\n")
        head = f"    <Message>{_el('MessageId', r['id'])}{common}{_el('DateTimeUTC', sent_ms)}"
        if r["deleted"]:
            head += ("<UpdatedType>Deleted</UpdatedType>"
                     f"{_el('UpdatedDateTimeUTC', iso_ms(r['deleted_at']) or sent_ms)}")
        elif r["edited_at"] or versions:
            head += ("<UpdatedType>EditedNewMsg</UpdatedType>"
                     f"{_el('UpdatedDateTimeUTC', iso_ms(r['edited_at']) or sent_ms)}")
        extra = []
        if r["thread_id"]:
            extra.append(_el("ThreadId", r["thread_id"]))
        if r["reply_count"]:
            extra.append(_el("ReplyCount", r["reply_count"]))
        if r["deleted"] and r["deleted_by"]:
            extra.append(_el("DeletedBy", self._login(r["deleted_by"])))
        for h in r["hidden_by"]:
            extra.append(f"<HiddenBy>{_el('LoginName', self._login(h))}"
                         f"{_el('DateTimeUTC', iso_ms(h.get('at')) or sent_ms)}</HiddenBy>")
        if r["liked_by"]:
            extra.append("<Likes>" + "".join(_el("LoginName", self._login(p)) for p in r["liked_by"])
                         + "</Likes>")
        if r["reactions"]:
            extra.append("<Reactions>" + "".join(
                f"<Reaction>{_el('Emoji', x['emoji'])}"
                + "".join(_el("LoginName", self._login(p)) for p in x["users"]) + "</Reaction>"
                for x in r["reactions"]) + "</Reactions>")
        out.append(f"{head}{_el('Content', r['body'])}{''.join(extra)}</Message>\n")
        for f in r.get("files") or ():   # see the module doc
            at = iso_s(f.get("created_at")) or sent_ms // 1000
            name, path = _el("UserFileName", f.get("name")), _el("FileName", f.get("path") or f.get("name"))
            out.append(f"    <FileTransferStarted>{_el('LoginName', login)}{_el('DateTimeUTC', at)}"
                       f"{name}{path}</FileTransferStarted>\n"
                       f"    <FileTransferEnded>{_el('LoginName', login)}{_el('DateTimeUTC', at)}"
                       f"{name}{path}<Status>Completed</Status></FileTransferEnded>\n")
        return "".join(out)

    def write(self, records):
        parts = []
        for r in records:
            if r["chat_id"] != self.current:
                if self.current is not None:
                    parts.append(self._close_conversation(self.current))
                self.current = r["chat_id"]
                parts.append(self._open_conversation(self.current))
            parts.append(self._message(r))
        self.out.write("".join(parts))

    def finish(self, chat_ids):
        if self.current is not None:
            self.out.write(self._close_conversation(self.current))
            self.current = None
        for cid in chat_ids:   # chats in scope with nothing exported: their participants
            if not (self.counts.get(cid) or {}).get("count"):
                self.out.write(self._open_conversation(cid) + self._close_conversation(cid))
        self.out.write(TAIL)
        self._close(FILE)
