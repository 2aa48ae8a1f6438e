"""The local filesystem blob store: ``<root>/ab/cd/<sha256>``, written atomically.

A blob is first copied into ``<root>/.incoming`` (same filesystem), flushed to disk, then
renamed into place: ``os.replace`` is atomic, so a crash leaves either no blob or the
whole blob, never a torn one, and a concurrent reader never sees a half-written file.
"""
import os
import shutil
import tempfile

from chatsvc.blobs import BlobNotFound, check_name


class LocalBlobStore:
    blocking_io = True   # copy and fsync block the calling thread: callers offload them

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.incoming = os.path.join(self.root, ".incoming")
        os.makedirs(self.incoming, exist_ok=True)

    def path(self, sha256: str) -> str:
        name = check_name(sha256)
        return os.path.join(self.root, name[:2], name[2:4], name)

    def put(self, sha256: str, src_path: str) -> None:
        final = self.path(sha256)
        if os.path.exists(final):
            return
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if self._link(src_path, final):
            return
        fd, tmp = tempfile.mkstemp(dir=self.incoming)
        try:
            with os.fdopen(fd, "wb") as out, open(src_path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _link(self, src_path: str, final: str) -> bool:
        """On the same filesystem, no copy: flush the source to disk, hard-link it under a
        temporary name, rename that into place. False when linking is not possible."""
        tmp = os.path.join(self.incoming, f"link-{os.getpid()}-{os.path.basename(final)}-{id(src_path)}")
        try:
            with open(src_path, "rb") as src:
                os.fsync(src.fileno())
            os.link(src_path, tmp)
        except OSError:
            return False
        os.replace(tmp, final)
        return True

    def open(self, sha256: str):
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))

    def size(self, sha256: str) -> int:
        try:
            return os.path.getsize(self.path(sha256))
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def delete(self, sha256: str) -> None:
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            pass

    def delete_many(self, names: list[str]) -> None:
        for name in names:
            self.delete(name)
