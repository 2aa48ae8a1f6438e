"""Files: upload, attach to a message, download, and how a file looks on a Message.

Rules (PROTOCOL.md, "Files and avatars"):
- An upload is its uploader's, unattached, until one send names it; a send may name at
  most 10 of the sender's own unattached files. Anything else in ``file_ids`` (unknown,
  another team's or user's, already attached, named twice) is a 400 naming ``file_ids``.
- A download is checked like a message read, every time: the signed URL must be genuine
  and current (else 403), and its viewer must be able to see the file now (else 404): a
  current member of the chat of the message it is attached to, the message neither
  deleted for everyone nor hidden by her; an unattached file only by its uploader.
- The bytes are in the blob store (content-addressed); the metadata in the engine.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import gevent
from gevent import get_hub

from chatsvc.blobs import BlobNotFound
from chatsvc.chat import file_urls
from chatsvc.chat.file_text import pending_fields
from chatsvc.errors import BadRequest, Forbidden, NotFound
from chatsvc.ids import id_time
from chatsvc.media import images, sniff
from chatsvc.media.spool import HashingSpool, TooLarge as UploadTooLarge  # noqa: F401 (api/files.py)
from chatsvc.store import files as file_store

if TYPE_CHECKING:
    from chatsvc.chat.context import ChatContext

MAX_FILES_PER_MESSAGE = 10
# What a Message carries of each file (stored with the message: no read per file shown).
_ENTRY_KEYS = ("id", "name", "size", "content_type", "sha256", "width", "height", "animated",
               "thumb_sha256", "thumb_type", "thumb_width", "thumb_height")


def _offload(fn, *args):
    """Run CPU- or disk-heavy work (decoding, resizing, fsync) in gevent's thread pool, so
    the event loop keeps serving sends meanwhile (Pillow and file I/O release the GIL).
    An exception comes back to the caller as it is (and is not logged by the pool as a
    crash: a refused image is an answer, not a failure)."""
    def guarded():
        try:
            return True, fn(*args)
        except Exception as exc:  # re-raised below, in the calling greenlet
            return False, exc

    ok, value = get_hub().threadpool.apply(guarded)
    if not ok:
        raise value
    return value


def put_blob(ctx: ChatContext, sha256: str, path: str):
    """Store a blob; a store whose I/O blocks (the local disk's fsync) runs in the pool."""
    if getattr(ctx.blobs, "blocking_io", True):
        _offload(ctx.blobs.put, sha256, path)
    else:
        ctx.blobs.put(sha256, path)


def new_spool(ctx: ChatContext) -> HashingSpool:
    """A staging file for one upload, limited to CHATSVC_MAX_FILE_BYTES; its blocks are
    hashed and written in the thread pool (media/spool.py)."""
    return HashingSpool(ctx.config.upload_dir, ctx.config.max_file_bytes, pause=lambda: gevent.sleep(0),
                        offload=_offload)


# ------------------------------------------------------------------------------ upload

def upload(ctx: ChatContext, me: dict, spool: HashingSpool | None, raw_name: str | None,
           declared_type: str | None, purpose: str = "file") -> dict:
    """Store an uploaded file (its spool is consumed): {file: File} for the uploader.
    BadRequest naming ``file`` when it is missing, empty, contradicts its name or type, or
    is an image Pillow refuses (a decompression bomb)."""
    if spool is None:
        raise BadRequest("a multipart part named 'file' is required", {"file": ["missing"]})
    try:
        doc = _stored_file(ctx, me, spool, raw_name, declared_type, purpose)
    finally:
        spool.discard()
    file_store.put_file(ctx.engine, doc)
    return {"file": file_view(doc, me["id"])}


def _stored_file(ctx, me, spool, raw_name, declared_type, purpose) -> dict:
    spool.finish()
    if spool.size == 0:
        raise BadRequest("the file is empty", {"file": ["must not be empty"]})
    name = sniff.safe_name(raw_name)
    with open(spool.path, "rb") as f:
        head = f.read(sniff.SNIFF_BYTES)
    try:
        content_type = sniff.detect(head, name, declared_type)
    except sniff.ContentMismatch as exc:
        raise BadRequest(str(exc), {"file": [str(exc)]}) from None
    file_id = ctx.new_id()
    doc = {"id": file_id, "team_id": me["team_id"], "owner_id": me["id"], "purpose": purpose,
           "name": name, "size": spool.size, "content_type": content_type,
           "sha256": spool.sha256, "created_at": id_time(int(file_id))}
    if sniff.is_raster(content_type):
        doc.update(_image_fields(ctx, spool.path))
    put_blob(ctx, spool.sha256, spool.path)
    return doc


def _image_fields(ctx: ChatContext, path: str) -> dict:
    """Width/height (as displayed), animation, and a thumbnail blob (stripped of metadata).
    An animated GIF has no thumbnail: it is shown itself, so it plays."""
    limit = ctx.config.image_max_pixels
    try:
        info = _offload(images.inspect, path, limit)
        fields = {"width": info.width, "height": info.height, "animated": info.animated}
        if info.animated:
            return fields
        fd, thumb = tempfile.mkstemp(dir=ctx.config.upload_dir, prefix="thumb-")
        os.close(fd)
        try:
            kind, width, height = _offload(images.thumbnail, path, thumb, limit)
            sha = _sha256_of(thumb)
            put_blob(ctx, sha, thumb)
        finally:
            os.unlink(thumb)
    except images.ImageRefused as exc:
        raise BadRequest(str(exc), {"file": [str(exc)]}) from None
    return {**fields, "thumb_sha256": sha, "thumb_type": kind, "thumb_width": width, "thumb_height": height}


def _sha256_of(path: str) -> str:
    import hashlib  # noqa: PLC0415
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------ views

def file_view(entry: dict, viewer_id: str) -> dict:
    """PROTOCOL.md's File, with URLs signed for ``viewer_id`` (none for an empty viewer)."""
    view = {k: entry[k] for k in ("id", "name", "size", "content_type", "sha256")}
    if entry.get("width"):
        view.update(width=entry["width"], height=entry["height"], animated=bool(entry.get("animated")))
    view["url"] = file_urls.file_url(entry["id"], "content", viewer_id) if viewer_id else None
    if entry.get("thumb_sha256"):
        view["thumbnail_url"] = file_urls.file_url(entry["id"], "thumbnail", viewer_id) if viewer_id else None
        view.update(thumbnail_width=entry["thumb_width"], thumbnail_height=entry["thumb_height"])
    elif entry.get("width"):     # an animated GIF is its own preview
        view["thumbnail_url"] = view["url"]
    return view


def files_view(doc: dict, viewer_id: str) -> list[dict]:
    """A message's files as its viewer sees them (none once it is deleted for everyone)."""
    if doc.get("deleted"):
        return []
    return [file_view(f, viewer_id) for f in doc.get("files") or ()]


def publish_with_message(ctx: ChatContext, member_ids, doc: dict, event_for) -> None:
    """Publish an event that carries the Message ``doc`` (``event_for(view)`` builds it):
    one copy for all members, or, when the message has files, one per member, since file
    URLs are signed for each viewer."""
    from chatsvc.chat.views import message_view  # noqa: PLC0415 - views imports this module
    if doc.get("files") and not doc.get("deleted"):
        for member in member_ids:
            ctx.publisher.publish([member], event_for(message_view(doc, member)))
    else:
        ctx.publisher.publish(member_ids, event_for(message_view(doc, "")))


# ------------------------------------------------------------------------------ attach

attach_op = file_store.attach_op     # the bulk operations a send adds (chat/send.py)
release_op = file_store.release_op


def _refusal(reason: str) -> BadRequest:
    return BadRequest(f"file_ids: {reason}", {"file_ids": [reason]})


def _refuse(reason: str):
    raise _refusal(reason)


class AlreadyAttached(Exception):
    """Every named file is attached to one message: a retry of that send, or a 400."""

    def __init__(self, message_id: int, chat_id: str, error: BadRequest):
        super().__init__(str(error))
        self.message_id, self.chat_id, self.error = message_id, chat_id, error


def attachments(ctx: ChatContext, me: dict, file_ids: list[str]) -> list[dict]:
    """The message entries of the files a send names, checked (see the module doc). One
    realtime _mget for all of them."""
    if not file_ids:
        return []
    if len(file_ids) > MAX_FILES_PER_MESSAGE:
        _refuse(f"at most {MAX_FILES_PER_MESSAGE} files per message")
    if len(set(file_ids)) != len(file_ids):
        _refuse("a file is named twice")
    docs, claims = file_store.get_files(ctx.engine, list(file_ids))
    entries = []
    for fid in file_ids:
        doc = docs.get(fid)
        if doc is None or doc["team_id"] != me["team_id"] or doc["owner_id"] != me["id"] \
                or doc.get("purpose") != "file":
            _refuse(f"no file {fid} of yours")
        entries.append({k: doc[k] for k in _ENTRY_KEYS if k in doc})
    if claims:
        error = _refusal(f"file {next(iter(claims))} is already attached to a message")
        targets = {(int(c["message_id"]), c["chat_id"]) for c in claims.values()}
        if len(claims) == len(file_ids) and len(targets) == 1:
            raise AlreadyAttached(*targets.pop(), error)
        raise error
    return entries


def message_fields(entries: list[dict]) -> dict:
    """What a message document holds of its files, for the view and for search."""
    if not entries:
        return {}
    names = [e["name"] for e in entries]
    # Each name whole (report-2026.pdf) and as words (report 2026 pdf): the engine's word
    # tokenizer keeps dotted names together, and people search for a part of the name.
    names += [re.sub(r"[._\-]+", " ", n) for n in names]
    return {"files": entries, "file_names": names, "has_file": True,
            "has_image": any(sniff.is_raster(e["content_type"]) for e in entries), **pending_fields(entries)}


# ------------------------------------------------------------------------------ download

@dataclass
class Download:
    stream: BinaryIO
    content_type: str
    size: int
    name: str
    inline: bool          # a raster image (or its thumbnail): shown in the page
    expires: int


def download(ctx: ChatContext, file_id: str, variant: str, viewer_id: str, expires: str,
             signature: str) -> Download:
    """The bytes of a file (or its thumbnail) for the viewer a signed URL names."""
    if variant not in file_urls.VARIANTS:
        raise NotFound("no such file")
    problem = file_urls.check_file_url(file_id, variant, viewer_id, expires, signature)
    if problem:
        raise Forbidden(f"this file link is {problem}; reload to get a new one")
    docs, claims = file_store.get_files(ctx.engine, [file_id])
    doc = docs.get(file_id)
    if doc is None:
        raise NotFound("no such file")
    _check_can_see(ctx, doc, claims.get(file_id), viewer_id)
    return _open(ctx, doc, variant, int(expires))


def _check_can_see(ctx: ChatContext, doc: dict, claim: dict | None, viewer_id: str):
    from chatsvc.chat.lookup import find_message  # noqa: PLC0415 - lookup imports views
    state = ctx.teams.get(doc["team_id"])
    if viewer_id not in state.users:
        raise NotFound("no such file")
    if claim is None:
        if doc["owner_id"] != viewer_id:
            raise NotFound("no such file")
        return
    state.chat_for_member(claim["chat_id"], viewer_id)
    message = find_message(ctx, state, int(claim["message_id"]), claim["chat_id"])
    if message is None or message.get("deleted") or viewer_id in message.get("hidden_for", ()):
        raise NotFound("no such file")


def _open(ctx: ChatContext, doc: dict, variant: str, expires: int) -> Download:
    if variant == "thumbnail" and doc.get("thumb_sha256"):
        sha, kind, name = doc["thumb_sha256"], doc["thumb_type"], "thumbnail-" + doc["name"]
    elif variant == "thumbnail" and not doc.get("animated"):
        raise NotFound("this file has no thumbnail")
    else:
        sha, kind, name = doc["sha256"], doc["content_type"], doc["name"]
    try:
        stream, size = ctx.blobs.open(sha), ctx.blobs.size(sha)
    except BlobNotFound:
        raise NotFound("the file's content is missing") from None
    return Download(stream, kind, size, name, sniff.is_raster(kind), expires)
