"""Attachments in a compliance export: every file of every exported message, copied by
hash into ``files/<sha256>`` of the export folder, listed on its message's record
(``files: [{id, name, path, size, sha256, content_type}]``) and hashed in the manifest's
``attachments``. With ``--no-files`` the records still list each file (name, size, hash)
with ``path: null``, and nothing is copied.

A copy is written to ``files/.<sha256>.part`` while its hash is checked, then renamed into
place, so a resumed export never trusts a torn copy; a blob already in the folder (the same
file attached twice, or copied before an interruption) is not copied again.
"""
import hashlib
import os

FOLDER = "files"


def record_files(doc: dict, with_files: bool) -> list[dict]:
    """What a message's record says of its files."""
    return [{"id": f["id"], "name": f["name"], "size": f["size"], "sha256": f["sha256"],
             "content_type": f["content_type"],
             "path": f"{FOLDER}/{f['sha256']}" if with_files else None}
            for f in doc.get("files") or ()]


class AttachmentCopier:
    def __init__(self, out: str, blobs, enabled: bool):
        self.folder = os.path.join(out, FOLDER)
        self.blobs = blobs
        self.enabled = enabled and blobs is not None

    def copy_page(self, docs: list[dict]):
        """Copy the files of one page of exported messages (each blob once)."""
        if not self.enabled:
            return
        for doc in docs:
            for f in doc.get("files") or ():
                self._copy(f["sha256"])

    def _copy(self, sha256: str):
        final = os.path.join(self.folder, sha256)
        if os.path.exists(final):
            return
        os.makedirs(self.folder, exist_ok=True)
        part = os.path.join(self.folder, f".{sha256}.part")
        digest = hashlib.sha256()
        with self.blobs.open(sha256) as src, open(part, "wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            os.remove(part)
            raise OSError(f"blob {sha256} does not match its hash: the blob store is damaged")
        os.replace(part, final)

    def manifest_entries(self) -> list[dict]:
        """[{name: files/<sha256>, bytes, sha256}] of every copied attachment, read back
        from the folder (so a resumed export lists what is really there)."""
        if not os.path.isdir(self.folder):
            return []
        entries = []
        for name in sorted(os.listdir(self.folder)):
            if name.startswith("."):
                continue
            path = os.path.join(self.folder, name)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            entries.append({"name": f"{FOLDER}/{name}", "bytes": os.path.getsize(path),
                            "sha256": digest.hexdigest()})
        return entries
