"""Text extraction of sent messages' files, off the send path.

After a message with files is stored and published, its extractable files (PDF, office
documents, text and source files) are read by a child process each, within the time,
memory and size budgets of the configuration (chatsvc.extract_text.runner); then ONE
update adds all their text to the message document, so search finds the message by the
words inside its files. A file over budget (a zip or PDF bomb) gives no text: the message
is sent and found by its body and file names as usual, and its ``file_text_status`` says
``budget``. At most ``CONCURRENT`` extractions run at a time per process.

Surviving a crash: a message whose files await extraction is stored with
``file_text_status: pending`` (part of the send's one write, no extra cost). If the process
dies before the text is added, the message stays pending in the engine; every
``CHATSVC_EXTRACT_RECOVER_POLL`` seconds the process serving a team (the one that has it
loaded: its owner behind the proxy) looks for its teams' messages still pending
``CHATSVC_EXTRACT_RECOVER_AFTER`` seconds after their send - one search, ``RECOVER_BATCH``
at a time - and extracts them again. Extracting twice (a slow former owner) only writes
the same text twice.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import gevent
from gevent.lock import BoundedSemaphore

from chatsvc.extract_text import extractable, runner
from chatsvc.extract_text.formats import TEXT_TYPES
from chatsvc.ids import format_time
from chatsvc.store import files as file_store

if TYPE_CHECKING:
    from chatsvc.chat.context import ChatContext

log = logging.getLogger(__name__)
CONCURRENT = 2
RECOVER_BATCH = 20   # pending messages picked up per search (each may have 10 files)
BATCH_PAUSE = 2.0    # seconds between two batches of a backlog: more than a refresh interval
_STATUS_ORDER = (runner.BUDGET, runner.FAILED, runner.OK)   # the worst one speaks for the message


def pending_fields(entries: list[dict]) -> dict:
    """What a new message with these files stores about extraction: ``pending`` when one
    of them is extractable (the send's own write; chat/files.message_fields)."""
    return {"file_text_status": file_store.PENDING} if any(extractable(e["content_type"]) for e in entries) else {}


class FileTextJobs:
    def __init__(self, ctx: ChatContext):
        self._ctx = ctx
        self._slots = BoundedSemaphore(CONCURRENT)
        self._running: set[int] = set()   # messages whose extraction this process runs now

    def submit(self, doc: dict) -> gevent.Greenlet | None:
        """Start extracting the files of a stored message, if any is extractable and this
        process is not at it already."""
        wanted = [f for f in doc.get("files") or () if extractable(f["content_type"])]
        if not wanted or doc["id"] in self._running:
            return None
        self._running.add(doc["id"])
        return gevent.spawn(self._run, doc, wanted)

    def _run(self, doc: dict, wanted: list[dict]):
        try:
            if self._ctx.config.extract_delay:   # tests: a crash between send and extraction
                gevent.sleep(self._ctx.config.extract_delay)
            with self._slots:
                results = [self._extract_safely(entry) for entry in wanted]
            text = "\n".join(r.text for r in results if r.text)
            status = next(s for s in _STATUS_ORDER if any(r.status == s for r in results))
            self._store_text(doc, text, status)
        except Exception:   # the engine refused the text: still pending, recovered later
            log.exception("storing the text of message %s's files failed", doc.get("id"))
        finally:
            self._running.discard(doc["id"])

    def _extract_safely(self, entry: dict) -> runner.Extracted:
        """A file whose text cannot be had (its blob missing, a disk error) is ``failed``,
        so the message is not picked up again and again."""
        try:
            return self._extract(entry)
        except Exception:
            log.exception("text extraction failed for file %s", entry.get("id"))
            return runner.Extracted("", runner.FAILED)

    def recover(self) -> int:
        """Extract again, and wait for, the oldest messages of this process's teams whose
        extraction an earlier process left pending; how many were found."""
        ctx = self._ctx
        before = datetime.now(timezone.utc) - timedelta(seconds=ctx.config.extract_recover_after)
        docs = file_store.pending_text(ctx.engine, ctx.teams.loaded_ids(), format_time(before), RECOVER_BATCH)
        jobs = [self.submit(self._live_copy(d)) for d in docs]
        gevent.joinall([j for j in jobs if j is not None])
        return len(docs)

    def _live_copy(self, doc: dict) -> dict:
        """The chat tail's copy of the message when it has one, so the text lands there too."""
        state = self._ctx.teams.peek(doc["team_id"])
        tail = state.tails.get(doc["chat_id"]) if state is not None else None
        return (tail.get(doc["id"]) if tail is not None else None) or doc

    def start_recovery(self) -> gevent.Greenlet:
        """The server's background sweep (chatsvc/__init__.py starts it in the worker)."""
        def loop():
            while True:
                try:
                    # A backlog: the next batch once searches see this one's text (a refresh
                    # interval), else they would find the same messages still pending.
                    while self.recover() == RECOVER_BATCH:
                        gevent.sleep(BATCH_PAUSE)
                except Exception:
                    log.exception("recovering pending text extractions failed; retrying later")
                gevent.sleep(self._ctx.config.extract_recover_poll)
        return gevent.spawn(loop)

    def _store_text(self, doc: dict, text: str, status: str):
        """One write of the message, registered like every other (chat/message_writes.py).
        The in-memory copy (the chat's tail) holds the text too, as a copy loaded from the
        engine does: a change later written as the whole document keeps it."""
        writes = self._ctx.message_writes
        writes.begin(doc)
        applied = None
        try:
            result = self._ctx.bulk.write([file_store.file_text_op(self._ctx.engine, doc, text, status)])[0]
            result.raise_for_failure()
            doc.update(file_text=text, file_text_status=status)
            applied = result
        finally:
            writes.end(doc, applied)

    def _extract(self, entry: dict) -> runner.Extracted:
        config = self._ctx.config
        if entry["content_type"].startswith(TEXT_TYPES):   # no parser to fear: read it here
            with self._ctx.blobs.open(entry["sha256"]) as blob:
                raw = blob.read(config.extract_chars * 4)
            return runner.Extracted(raw.decode("utf-8", errors="replace")[:config.extract_chars], runner.OK)
        fd, path = tempfile.mkstemp(dir=config.upload_dir, prefix="extract-")
        try:
            with os.fdopen(fd, "wb") as out, self._ctx.blobs.open(entry["sha256"]) as blob:
                shutil.copyfileobj(blob, out, 1 << 20)
            return runner.run(path, entry["content_type"], seconds=config.extract_seconds,
                              max_chars=config.extract_chars, memory_mb=config.extract_memory_mb)
        finally:
            os.unlink(path)
