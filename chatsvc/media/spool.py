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


def _inline(fn, *args):
    return fn(*args)


class HashingSpool:
    """A writable staging file under ``folder``; after writing, ``sha256`` and ``size``.

    Chunks are gathered up to ``BLOCK`` bytes, then hashed and written by ``offload`` (the
    server passes gevent's thread pool: hashlib and file writes release the GIL, so the
    event loop keeps serving sends while a block is hashed and written, and a write that
    the kernel throttles for dirty pages blocks a pool thread, not the loop). Every
    ``WRITEBACK`` bytes the kernel is asked to start writing the file out, so the disk
    takes the upload as it arrives instead of in one burst at the final fsync, which would
    stall the engine's own fsyncs (and so every send's ack) behind it.
    """
    BLOCK = 1 << 20
    WRITEBACK = 4 << 20

    def __init__(self, folder: str, limit: int, pause=None, offload=_inline):
        os.makedirs(folder, exist_ok=True)
        fd, self.path = tempfile.mkstemp(dir=folder, prefix="up-")
        self._file = os.fdopen(fd, "w+b")
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []   # chunks not written yet: at most BLOCK bytes
        self._pending_size = 0
        self._flushed_to = 0          # bytes handed to the kernel's writeback so far
        self.size = 0
        self.limit = limit
        self.name = self.path
        # Called after each chunk: under gevent a socket with data waiting never yields, so
        # without a pause one upload would hold the event loop until its last byte.
        self._pause = pause
        self._offload = offload

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise TooLarge(self.limit)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= self.BLOCK:
            self._drain()
        if self._pause is not None:
            self._pause()
        return len(chunk)

    def _drain(self):
        """Hash and write what is pending (in the offload)."""
        if self._pending:
            # A parser reading 1 MiB at a time hands over whole blocks: no copy then.
            block = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._offload(self._write_block, block)

    def _write_block(self, block: bytes):
        self._hash.update(block)
        self._file.write(block)
        written = self._file.tell()
        if written - self._flushed_to >= self.WRITEBACK:
            self._file.flush()
            _start_writeback(self._file.fileno(), self._flushed_to, written - self._flushed_to)
            self._flushed_to = written

    @property
    def sha256(self) -> str:
        if not self._file.closed:
            self._drain()
        return self._hash.hexdigest()

    # The parser rewinds the stream when the part ends; these let it (and FileStorage) do so.
    def seek(self, *args):
        self._drain()
        return self._file.seek(*args)

    def tell(self):
        return self._file.tell() + self._pending_size

    def read(self, *args):
        self._drain()
        return self._file.read(*args)

    def flush(self):
        self._drain()
        self._file.flush()

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def close(self):
        if not self._file.closed:
            self._drain()
            self._file.close()

    @property
    def closed(self):
        return self._file.closed

    def finish(self):
        """Flush and close; the staging file stays for the caller (see ``discard``)."""
        self.close()

    def discard(self):
        """Close and delete the staging file (idempotent)."""
        self._pending, self._pending_size = [], 0
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _start_writeback(fd: int, offset: int, length: int):
    """Ask the kernel to start writing this range to disk now (without waiting for it):
    Linux's POSIX_FADV_DONTNEED does that for dirty pages. Where there is no such call,
    the final fsync writes it all, as before."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
