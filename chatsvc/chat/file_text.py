"""Text extraction of sent messages' files, off the send path.

After a message with files is stored and published, its extractable files (PDF, office
documents, text and source files) are read by a child process each, within the time,
memory and size budgets of the configuration (chatsvc.extract_text.runner); then ONE
update adds all their text to the message document, so search finds the message by the
words inside its files. A file over budget (a zip or PDF bomb) gives no text: the message
is sent and found by its body and file names as usual, and its ``file_text_status`` says
``budget``. At most ``CONCURRENT`` extractions run at a time per process.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import gevent
from gevent.lock import BoundedSemaphore

from chatsvc.extract_text import extractable, runner
from chatsvc.extract_text.formats import TEXT_TYPES
from chatsvc.store import files as file_store

if TYPE_CHECKING:
    from chatsvc.chat.context import ChatContext

log = logging.getLogger(__name__)
CONCURRENT = 2
_STATUS_ORDER = (runner.BUDGET, runner.FAILED, runner.OK)   # the worst one speaks for the message


class FileTextJobs:
    def __init__(self, ctx: ChatContext):
        self._ctx = ctx
        self._slots = BoundedSemaphore(CONCURRENT)

    def submit(self, doc: dict) -> gevent.Greenlet | None:
        """Start extracting the files of a stored message, if any is extractable."""
        wanted = [f for f in doc.get("files") or () if extractable(f["content_type"])]
        if not wanted:
            return None
        return gevent.spawn(self._run, doc, wanted)

    def _run(self, doc: dict, wanted: list[dict]):
        try:
            with self._slots:
                results = [self._extract(entry) for entry in wanted]
            text = "\n".join(r.text for r in results if r.text)
            status = next(s for s in _STATUS_ORDER if any(r.status == s for r in results))
            self._store_text(doc, text, status)
        except Exception:   # never take the server down for a file; the message stays as sent
            log.exception("text extraction failed for message %s", doc.get("id"))

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
