"""Files and avatars over REST: upload (multipart, streamed to disk), signed downloads,
the caller's profile picture (PROTOCOL.md, "Files and avatars")."""
import time
from urllib.parse import quote

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length, get_input_stream

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, me
from chatsvc.chat import avatars, files as chat_files
from chatsvc.errors import TooLarge


bp = Blueprint("files", __name__)
_MULTIPART_SLACK = 64 << 10   # part headers and boundaries around the file itself
_DRAIN_CAP = 256 << 20        # read at most this much of a refused body (for a clean 413)
_CHUNK = 64 << 10
# The parser reads the body this much at a time (werkzeug's default is 64 KiB): each read
# costs the event loop a fixed amount of pure-Python work (the socket reads, the parser's
# events, the spool's pause), so larger reads spend less of it per MiB; 1 MiB is still
# parsed in about a millisecond, so no send waits long behind one.
_READ = 1 << 20
_FORM_MEMORY = 2 * _READ     # the parser's buffer (a read and the rest of the last) and any text part


def _drain():
    """Read and drop the rest of a refused upload, so the client gets the 413 instead of a
    reset connection while it is still sending."""
    stream, left = request.environ["wsgi.input"], _DRAIN_CAP
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


def _multipart_file():
    """(spool, file name, declared type) of the part named ``file``, streamed into a
    staging file while it arrives (chat.files.new_spool); (None, None, None) when absent.
    Every other part's spool is dropped at once."""
    limit = ctx().config.max_file_bytes
    spools = []

    def factory(total_content_length, content_type, filename, content_length=None):
        spool = chat_files.new_spool(ctx())
        spools.append(spool)
        return spool

    try:
        parts = _parse_multipart(request.environ, factory, limit + _MULTIPART_SLACK)
    except (chat_files.UploadTooLarge, RequestEntityTooLarge):
        for spool in spools:
            spool.discard()
        _drain()
        raise TooLarge(f"the file is larger than the limit of {limit} bytes") from None
    upload = parts.get("file")
    for spool in spools:
        if upload is None or spool is not upload.stream:
            spool.discard()
    if upload is None:
        return None, None, None
    return upload.stream, upload.filename, upload.mimetype


def _parse_multipart(environ, factory, max_length: int) -> dict:
    """{part name: FileStorage} of a multipart body (werkzeug's parser, read _READ bytes at a
    time); {} when the body is not multipart or is malformed (the caller says 400)."""
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE"))
    boundary = options.get("boundary", "").encode("ascii", "replace")
    stream = get_input_stream(environ, max_content_length=max_length)
    if mimetype != "multipart/form-data" or not boundary:
        return {}
    parser = MultiPartParser(stream_factory=factory, max_form_memory_size=_FORM_MEMORY,
                             max_form_parts=20, buffer_size=_READ)
    try:
        _, files = parser.parse(stream, boundary, get_content_length(environ))
    except ValueError:   # malformed: as werkzeug's parse_form_data, no parts
        return {}
    return files


@bp.post("/api/files")
@endpoint("Upload a file (multipart part 'file'); it is the caller's until a send attaches it",
          response=s.UploadOut, status=201)
def upload():
    spool, name, declared = _multipart_file()
    return chat_files.upload(ctx(), me(), spool, name, declared), 201


def content_disposition(name: str, inline: bool) -> str:
    """``inline`` or ``attachment`` with the name twice: an ASCII fallback with quotes,
    backslashes and control characters replaced, and the exact UTF-8 name (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _stream(blob):
    try:
        while True:
            chunk = blob.read(_CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        blob.close()


def _file_response(stream, content_type: str, size: int, name: str, inline: bool, cache: str) -> Response:
    resp = Response(_stream(stream), mimetype=content_type if inline else _download_type(content_type),
                    direct_passthrough=True)
    resp.headers["Content-Length"] = str(size)
    resp.headers["Content-Disposition"] = content_disposition(name, inline)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # Even if a browser were talked into rendering it, a file runs no script and loads nothing.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    resp.headers["Cache-Control"] = cache
    return resp


def _download_type(content_type: str) -> str:
    """Markup that a browser would run (HTML, SVG, XML) is labelled as bytes."""
    risky = ("html" in content_type or "svg" in content_type or "xml" in content_type
             or "javascript" in content_type)
    return "application/octet-stream" if risky else content_type


@bp.get("/api/files/<file_id>/<variant>")
@endpoint("A file's bytes (content) or its thumbnail, by a signed URL from a File object",
          query=s.DownloadQuery, auth=False)
def download(file_id, variant):
    args = load_args(s.DownloadQuery())
    d = chat_files.download(ctx(), file_id, variant, args["u"], args["e"], args["s"])
    return _file_response(d.stream, d.content_type, d.size, d.name, d.inline,
                          f"private, max-age={max(0, int(d.expires - time.time()))}")


@bp.put("/api/me/avatar")
@endpoint("Set the caller's profile picture (multipart part 'file', an image): cropped square",
          response=s.UserOut)
def set_avatar():
    spool, name, declared = _multipart_file()
    return avatars.set_avatar(ctx(), me(), spool, name, declared)


@bp.delete("/api/me/avatar")
@endpoint("Remove the caller's profile picture", response=s.UserOut)
def remove_avatar():
    return avatars.remove_avatar(ctx(), me())


@bp.get("/api/avatars/<team_id>/<user_id>/<sha256>")
@endpoint("A profile picture, by the avatar_url of a User", query=s.AvatarQuery, auth=False)
def avatar(team_id, user_id, sha256):
    args = load_args(s.AvatarQuery())
    stream, size, expires = avatars.open_avatar(ctx(), team_id, user_id, sha256, args["e"], args["s"])
    # Cached until the link expires: every link made in one bucket is the same URL.
    return _file_response(stream, "image/png", size, "avatar.png", True,
                          f"private, max-age={max(0, int(expires - time.time()))}")
