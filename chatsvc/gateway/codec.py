"""The WebSocket frame codec: the envelope of every frame, and the ``auth`` frame.

``decode`` turns a text frame into ``(type, ref, frame)`` (the frame is the whole JSON
object) or raises BadRequest; what the fields of each frame type mean is the business of
the command that serves it (the dispatcher handed to the Gateway), not of this layer.
``encode`` serialises a server frame straight into WebSocket wire bytes (once per event,
whatever the number of connections it goes to). Unknown extra fields are ignored so
clients may be newer than the server.
"""
import struct

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from chatsvc import jsonfast
from chatsvc.errors import BadRequest


class AuthFrame(Schema):
    class Meta:
        unknown = EXCLUDE

    # Any string: an empty or absurd token is an authentication failure (4401), not a
    # malformed frame, so the injected ``authenticate`` judges it.
    token = fields.String(required=True)


_AUTH = AuthFrame()
MAX_REF = 128


def peek_ref(frame) -> str | None:
    """The client's ``ref`` if there is a usable one, even when the rest is malformed."""
    if isinstance(frame, dict):
        ref = frame.get("ref")
        if isinstance(ref, str) and len(ref) <= MAX_REF:
            return ref
    return None


def decode(text) -> tuple[str, str | None, dict]:
    """(type, ref, frame) of a client frame: a JSON object whose ``type`` is a string and
    whose ``ref``, if any, a string of at most MAX_REF characters."""
    if not isinstance(text, str):
        raise BadRequest("frames must be JSON text, not binary")
    try:
        frame = jsonfast.loads(text)
    except ValueError:
        raise BadRequest("frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise BadRequest("a frame must be a JSON object")
    ref = peek_ref(frame)
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise unknown_type(kind, ref)
    if "ref" in frame and ref is None:
        raise _with_ref(BadRequest("ref must be a string of at most 128 characters",
                                   {"ref": ["invalid"]}), None)
    return kind, ref, frame


def unknown_type(kind, ref: str | None) -> BadRequest:
    return _with_ref(BadRequest(f"unknown frame type {kind!r}", {"type": ["unknown frame type"]}), ref)


def auth_token(frame: dict, ref: str | None) -> str:
    """The token of an ``auth`` frame; BadRequest (with the ref) when it has none."""
    try:
        return _AUTH.load(frame)["token"]
    except ValidationError as exc:
        raise _with_ref(BadRequest("invalid auth frame", exc.messages), ref) from None


def _with_ref(error: BadRequest, ref: str | None) -> BadRequest:
    error.ref = ref
    return error


def encode(frame: dict) -> bytes:
    """``frame`` as one unfragmented, unmasked RFC 6455 text frame, ready for the socket.

    Framing here instead of in the WebSocket library is valid because the endpoint
    negotiates no extension (see chatsvc.gateway.init_app): a server frame is then just
    a header and the UTF-8 payload."""
    return text_frame(jsonfast.dumpb(frame))


def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def error_frame(error, ref: str | None = None) -> dict:
    frame = {"type": "error", "ref": ref, **error.as_dict()}
    if ref is None:
        frame.pop("ref")
    return frame
