"""REST blueprints: parse and validate (marshmallow), call chat/, serialise.

``init_app`` registers them and the error handlers that turn ChatError (and Flask's own
HTTP errors) into PROTOCOL.md's ``{"error": {"code", "message"}}`` bodies.
"""
import logging

from flask import Flask
from werkzeug.exceptions import HTTPException

from chatsvc.api import accounts, admin, chats, contacts, health, messages, openapi, search
from chatsvc.api import files as files_api   # files and avatars (issue 14)
from chatsvc.errors import ChatError, RateLimited

log = logging.getLogger(__name__)
BLUEPRINTS = [health.bp, openapi.bp, accounts.bp, contacts.bp, chats.bp, messages.bp, search.bp, admin.bp,
              files_api.bp]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "bad_request", 409: "conflict", 413: "too_large", 415: "bad_request",
               429: "rate_limited", 503: "unavailable"}


def error_response(code: str, message: str, status: int, fields=None):
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}, status


def init_app(app: Flask):
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)

    @app.errorhandler(ChatError)
    def chat_error(exc: ChatError):
        body, status = error_response(exc.code, exc.message, exc.status, exc.fields)
        if isinstance(exc, RateLimited):
            body["error"]["retry_after"] = exc.retry_after
            return body, status, {"Retry-After": str(exc.retry_after)}
        return body, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = _HTTP_CODES.get(exc.code, "bad_request")
        return error_response(code, exc.description or exc.name, exc.code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("request failed")
        return error_response("internal_error", "internal error", 500)
