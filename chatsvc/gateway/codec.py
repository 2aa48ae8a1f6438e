"""The WebSocket frame codec: one marshmallow schema per client frame type.

``decode`` turns a text frame into ``(type, ref, fields)`` or raises BadRequest with the
offending fields; ``encode`` serialises a server frame straight into WebSocket wire bytes
(once per event, whatever the number of connections it goes to). Unknown extra fields are
ignored so clients may be newer than the server.
"""
import struct

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from chatsvc import jsonfast
from chatsvc.errors import BadRequest
from chatsvc.wire import Body, Id, client_msg_id


class _Frame(Schema):
    class Meta:
        unknown = EXCLUDE


class AuthFrame(_Frame):
    # Any string: an empty or absurd token is an authentication failure (4401), not a
    # malformed frame, so chat/accounts.authenticate judges it.
    token = fields.String(required=True)


class SendFrame(_Frame):
    chat_id = Id(required=True)
    body = Body(required=True)
    client_msg_id = client_msg_id()


class LikeFrame(_Frame):
    message_id = Id(required=True)


class ReadFrame(_Frame):
    chat_id = Id(required=True)
    message_id = Id(required=True)


class DeleteFrame(_Frame):
    message_id = Id(required=True)
    scope = fields.String(required=True, data_key="for", validate=validate.OneOf(["me", "everyone"]))


class PingFrame(_Frame):
    pass


SCHEMAS = {
    "auth": AuthFrame(), "send": SendFrame(), "like": LikeFrame(), "unlike": LikeFrame(),
    "read": ReadFrame(), "delete": DeleteFrame(), "ping": PingFrame(),
}
MAX_REF = 128


def peek_ref(frame) -> str | None:
    """The client's ``ref`` if there is a usable one, even when the rest is malformed."""
    if isinstance(frame, dict):
        ref = frame.get("ref")
        if isinstance(ref, str) and len(ref) <= MAX_REF:
            return ref
    return None


def decode(text) -> tuple[str, str | None, dict]:
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
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise _with_ref(BadRequest(f"unknown frame type {kind!r}", {"type": ["unknown frame type"]}), ref)
    if "ref" in frame and ref is None:
        raise _with_ref(BadRequest("ref must be a string of at most 128 characters",
                                   {"ref": ["invalid"]}), None)
    try:
        data = SCHEMAS[kind].load(frame)
    except ValidationError as exc:
        raise _with_ref(BadRequest(f"invalid {kind} frame", exc.messages), ref) from None
    return kind, ref, data


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
