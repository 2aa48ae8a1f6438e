"""Retention's file side: after a page of messages is deleted, the documents of their
files go, and then every blob (content or thumbnail) that nothing remaining points at.

Blobs are content-addressed, so one blob may be the bytes of several files (the same
photo sent twice), a thumbnail of several, or a profile picture: a blob is deleted only
when no remaining file document (attached to a message that is still there - one a legal
hold keeps, one deleted for everyone but kept for compliance - or an upload not sent yet)
and no user's picture names it. Per page: one ``_bulk`` for the file documents, one search
for the names still in use, one batched delete in the blob store.

A blob is checked after the file documents of the page are gone and the indices refreshed,
so an upload of the same bytes acknowledged before the check keeps it. One that lands in the
few milliseconds between the check and the delete can lose its bytes (its upload found them
already stored); closing that would need a lock per blob name, which no upload should wait on.
"""
from chatsvc.store import files as file_store


class BlobReaper:
    """chat.retention's FileReaper for a blob store."""
    wants_files = True

    def __init__(self, engine, blobs):
        self.engine, self.blobs = engine, blobs
        self.blobs_deleted = 0

    def delete(self, files: list[dict]):
        file_store.forget_files(self.engine, sorted({f["id"] for f in files}))
        names = sorted({f[k] for f in files for k in ("sha256", "thumb_sha256") if f.get(k)})
        unused = sorted(set(names) - file_store.referenced_blobs(self.engine, names))
        self.blobs.delete_many(unused)
        self.blobs_deleted += len(unused)
