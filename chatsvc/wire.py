"""marshmallow fields shared by REST schemas (api/) and WebSocket frames (gateway/), so a
message body or a client_msg_id is validated by one rule whichever way it arrives."""
import re

from marshmallow import ValidationError, fields, validate

from chatsvc.ids import parse_id

# Message text is checked in two steps: here, trimmed and non-empty (and below an absolute
# ceiling, the largest CHATSVC_MAX_BODY_CHARS accepts, so no schema ever holds more); the
# deployment's own limit (PROTOCOL.md: 10,000 by default) is a rule of the send path,
# chatsvc.chat.send, which knows the configuration.
BODY_CEILING_CHARS = 100_000
CLIENT_MSG_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class Body(fields.String):
    """Message text: trimmed, then 1..BODY_CEILING_CHARS characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise ValidationError("must not be empty or only whitespace")
        if len(text) > BODY_CEILING_CHARS:
            raise ValidationError(f"must be at most {BODY_CEILING_CHARS} characters")
        return text


class OptionalBody(fields.String):
    """Message text that may be empty (a message with files): trimmed, at most
    BODY_CEILING_CHARS; whether empty is allowed is the send path's rule."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) > BODY_CEILING_CHARS:
            raise ValidationError(f"must be at most {BODY_CEILING_CHARS} characters")
        return text


class Id(fields.String):
    """A 64-bit id sent as a decimal string (numbers are accepted too); loads as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be an id (a decimal string)")
        number = parse_id(value)
        if number is None:
            raise ValidationError("must be an id (a decimal string)")
        return str(number)


def client_msg_id(**kwargs):
    return fields.String(required=True, validate=validate.Regexp(
        CLIENT_MSG_ID, error="must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"), **kwargs)


def username(**kwargs):
    return fields.String(validate=validate.Regexp(
        USERNAME, error="must be 1-32 characters of A-Z, a-z, 0-9, '_', '.' or '-'"), **kwargs)


class StrictBoolean(fields.Boolean):
    """Only JSON true or false (not 1, "yes" or null)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value
