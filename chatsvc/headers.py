"""Security headers on every response, and who may open ``/ws``.

``init_app`` adds, to every response Flask sends (JSON, errors, the workspace's files,
``/ws`` refusals): ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``, a Content
Security Policy that lets the workspace load only its own scripts and styles, talk only to
its own origin (``connect-src 'self'`` covers its same-origin WebSocket) and never be
framed (``frame-ancestors 'none'``, with ``X-Frame-Options`` for older browsers).

Before a WebSocket upgrade it checks the ``Origin`` header against CHATSVC_ALLOWED_ORIGINS
(default: the host itself) so another site's page cannot open a socket with a user's
browser; a request without ``Origin`` (a script, not a browser) is let through, since
it must still authenticate with a token. Refusals are REST errors (403 ``forbidden``,
429 ``rate_limited``), sent before any upgrade.
"""
from flask import Flask, request

from chatsvc.errors import Forbidden

# style-src keeps 'unsafe-inline' as the workspace's policy had it (element styles set by
# its views); scripts stay 'self' only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
}


def origin_allowed(origin: str | None, allowed: tuple[str, ...], own_origin: str) -> bool:
    """True when a browser at ``origin`` may open a socket here."""
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if not allowed:
        return origin == own_origin.lower()
    return "*" in allowed or origin in (a.lower() for a in allowed)


def init_app(app: Flask, admit_websocket):
    """``admit_websocket(address)``: raise a ChatError (a throttle) to refuse an upgrade."""
    config = app.config["CHATSVC"]

    @app.after_request
    def _security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.before_request
    def _check_websocket_origin():
        if request.path != "/ws":
            return None
        if not origin_allowed(request.headers.get("Origin"), config.allowed_origins,
                              f"{request.scheme}://{request.host}"):
            raise Forbidden("this origin may not open a WebSocket here")
        admit_websocket(request.remote_addr)
        return None
