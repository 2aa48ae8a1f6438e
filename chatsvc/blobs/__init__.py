"""Blob stores: where file bytes live (never in the search engine).

A blob is named by the SHA-256 of its content (lowercase hex), so the same bytes uploaded
twice are stored once and a name can never point at other bytes. Two implementations share
the :class:`BlobStore` interface: :class:`~chatsvc.blobs.local.LocalBlobStore` (a folder
under ``var/``, the default) and :class:`~chatsvc.blobs.s3.S3BlobStore` (any S3-compatible
object store, via boto3). ``make_blob_store(config)`` picks one from the settings.
"""
import re
from typing import BinaryIO, Protocol

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(KeyError):
    """No blob by that name in this store."""


def check_name(sha256: str) -> str:
    """The name itself, or ValueError: a blob name is exactly 64 lowercase hex digits, so
    it can never hold a path separator or '..'."""
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256 blob name: {sha256!r}")
    return sha256


class BlobStore(Protocol):
    def put(self, sha256: str, src_path: str) -> None:
        """Store the bytes of the local file ``src_path`` under ``sha256`` (which the caller
        computed). Atomic: a reader sees the whole blob or none. Storing an existing name
        again is a no-op."""

    def open(self, sha256: str) -> BinaryIO:
        """A readable binary stream of the blob (the caller closes it); BlobNotFound."""

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""

    def size(self, sha256: str) -> int:
        """Its size in bytes; BlobNotFound."""

    def delete(self, sha256: str) -> None:
        """Remove it (no error when absent)."""

    def delete_many(self, names: list[str]) -> None:
        """Remove all of them (absent ones are no error), in as few requests as the store
        allows."""


def make_blob_store(config) -> BlobStore:
    """The store the configuration names: ``s3`` when CHATSVC_BLOB_S3_ENDPOINT is set,
    else the local folder CHATSVC_BLOB_DIR."""
    if config.blob_s3_endpoint:
        from chatsvc.blobs.s3 import S3BlobStore  # noqa: PLC0415 - boto3 only when used
        return S3BlobStore(config.blob_s3_endpoint, config.blob_s3_bucket, config.blob_s3_key,
                           config.blob_s3_secret, config.blob_s3_region)
    from chatsvc.blobs.local import LocalBlobStore  # noqa: PLC0415
    return LocalBlobStore(config.blob_dir)
