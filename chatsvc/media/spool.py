"""An upload streamed to a staging file, hashed and counted while it arrives.

The multipart parser writes each chunk of the ``file`` part here as it reads it from the
socket, so an upload is never whole in memory; the SHA-256 is computed on the same chunks
(no second read). Past ``limit`` bytes the spool deletes its file at once and raises
:class:`TooLarge`, so an oversized upload leaves nothing on disk.
"""
import hashlib
import os
import tempfile


class TooLarge(Exception):
    """The upload is over the size limit (its staging file is already gone)."""

    def __init__(self, limit: int):
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class HashingSpool:
    """A writable staging file under ``folder``; after writing, ``sha256`` and ``size``."""

    def __init__(self, folder: str, limit: int, pause=None):
        os.makedirs(folder, exist_ok=True)
        fd, self.path = tempfile.mkstemp(dir=folder, prefix="up-")
        self._file = os.fdopen(fd, "w+b")
        self._hash = hashlib.sha256()
        self.size = 0
        self.limit = limit
        self.name = self.path
        # Called after each chunk: under gevent a socket with data waiting never yields, so
        # without a pause one upload would hold the event loop until its last byte.
        self._pause = pause

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise TooLarge(self.limit)
        self._hash.update(chunk)
        written = self._file.write(chunk)
        if self._pause is not None:
            self._pause()
        return written

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    # The parser rewinds the stream when the part ends; these let it (and FileStorage) do so.
    def seek(self, *args):
        return self._file.seek(*args)

    def tell(self):
        return self._file.tell()

    def read(self, *args):
        return self._file.read(*args)

    def flush(self):
        self._file.flush()

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def close(self):
        if not self._file.closed:
            self._file.close()

    @property
    def closed(self):
        return self._file.closed

    def finish(self):
        """Flush and close; the staging file stays for the caller (see ``discard``)."""
        self.close()

    def discard(self):
        """Close and delete the staging file (idempotent)."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
