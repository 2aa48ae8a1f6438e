"""The error vocabulary shared by REST and WebSocket (PROTOCOL.md's codes).

chat/ and store/ raise these; api/ turns them into an HTTP status and JSON body, the
gateway into an ``error`` frame. Nothing else needs to know about transports.
"""


class ChatError(Exception):
    code = "bad_request"
    status = 400

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class BadRequest(ChatError):
    code, status = "bad_request", 400


class Unauthorized(ChatError):
    code, status = "unauthorized", 401


class Forbidden(ChatError):
    code, status = "forbidden", 403


class NotFound(ChatError):
    code, status = "not_found", 404


class Conflict(ChatError):
    code, status = "conflict", 409


class TooLarge(ChatError):
    code, status = "too_large", 413


class RateLimited(ChatError):
    """``retry_after``: whole seconds until a retry can succeed (REST's Retry-After
    header, and a field of the WebSocket error frame)."""
    code, status = "rate_limited", 429
    retry_after = 1

    def as_dict(self) -> dict:
        return {**super().as_dict(), "retry_after": self.retry_after}


class Unavailable(ChatError):
    code, status = "unavailable", 503


class InternalError(ChatError):
    code, status = "internal_error", 500
