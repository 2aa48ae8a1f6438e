"""Profile pictures: set (cropped to a square PNG, metadata gone), remove, serve.

The picture's blob is named by its hash and the user document points at it; the
User's ``avatar_url`` is signed for the team, with an expiry that rotates per bucket (chat/file_urls.py). Serving checks that the
URL is genuine and still names the user's current picture, so a removed or replaced
picture stops being served under the old URL.
"""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from chatsvc.blobs import BlobNotFound
from chatsvc.chat import file_urls
from chatsvc.chat.accounts import public_user
from chatsvc.chat.files import _offload, _sha256_of, put_blob
from chatsvc.errors import BadRequest, Forbidden, NotFound
from chatsvc.media import images, sniff
from chatsvc.media.spool import HashingSpool
from chatsvc.store import files as file_store

if TYPE_CHECKING:
    from chatsvc.chat.context import ChatContext


def set_avatar(ctx: ChatContext, me: dict, spool: HashingSpool | None, name: str | None,
               declared: str | None) -> dict:
    """The caller's User with the new ``avatar_url``. BadRequest naming ``file`` unless it
    is a readable raster image within the pixel limit."""
    if spool is None:
        raise BadRequest("a multipart part named 'file' is required", {"file": ["missing"]})
    try:
        sha = _square_png(ctx, spool, name, declared)
    finally:
        spool.discard()
    return _point_at(ctx, me, sha)


def _square_png(ctx: ChatContext, spool: HashingSpool, name, declared) -> str:
    spool.finish()
    if spool.size == 0:
        raise BadRequest("the file is empty", {"file": ["must not be empty"]})
    with open(spool.path, "rb") as f:
        head = f.read(sniff.SNIFF_BYTES)
    try:
        kind = sniff.detect(head, sniff.safe_name(name), declared)
    except sniff.ContentMismatch as exc:
        raise BadRequest(str(exc), {"file": [str(exc)]}) from None
    if not sniff.is_raster(kind):
        raise BadRequest("a profile picture must be a PNG, JPEG, GIF or WebP image",
                         {"file": ["not an image"]})
    fd, out = tempfile.mkstemp(dir=ctx.config.upload_dir, prefix="avatar-")
    os.close(fd)
    try:
        _offload(images.avatar, spool.path, out, ctx.config.image_max_pixels)
        sha = _sha256_of(out)
        put_blob(ctx, sha, out)
    except images.ImageRefused as exc:
        raise BadRequest(str(exc), {"file": [str(exc)]}) from None
    finally:
        os.unlink(out)
    return sha


def _point_at(ctx: ChatContext, me: dict, sha: str | None) -> dict:
    file_store.set_avatar(ctx.engine, me["id"], sha)
    user = ctx.teams.get(me["team_id"]).users[me["id"]]
    user["avatar_sha256"] = sha
    return public_user(user)


def remove_avatar(ctx: ChatContext, me: dict) -> dict:
    """The caller's User without a picture (the blob stays: it is content-addressed and
    may be another user's picture too)."""
    return _point_at(ctx, me, None)


def open_avatar(ctx: ChatContext, team_id: str, user_id: str, sha256: str, expires: str,
                signature: str):
    """(stream, size, expires) of a user's current picture. 404 when the link names a user
    who is not in that team (another team's link); 403 when altered or expired; 404 when
    the user has another picture (or none) now."""
    user = ctx.teams.get(team_id).users.get(user_id) if team_id.isdigit() else None   # no team: 404
    if user is None:
        raise NotFound("no such picture")
    problem = file_urls.check_avatar_url(team_id, user_id, sha256, expires, signature)
    if problem:
        raise Forbidden(f"this picture link is {problem}; reload to get a new one")
    if user.get("avatar_sha256") != sha256:
        raise NotFound("no such picture")
    try:
        return ctx.blobs.open(sha256), ctx.blobs.size(sha256), int(expires)
    except BlobNotFound:
        raise NotFound("no such picture") from None

