"""Issue 16's wiring into the app: trusted proxies, security headers and the /ws origin
check, WebSocket admission throttles, metrics and their size gauges, access logs.

Kept apart from create_app() so the app factory stays a list of steps.
"""
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from chatsvc import headers, logs, metrics


def wire(app: Flask, ctx, hub):
    """Everything here reads the ChatContext ``ctx`` and the gateway's ``hub``."""
    config = ctx.config
    if config.trusted_proxies:
        # Only then is X-Forwarded-For believed, and only the entries those proxies added.
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    ctx.throttles.on_refuse(metrics.throttled)
    headers.init_app(app, ctx.throttles.ws_address.hit)
    logs.configure(bool(config.log_json))
    logs.init_app(app)
    metrics.init_app(app)
    _size_gauges(ctx, hub)


def admit_socket_user(ctx, user: dict):
    """A WebSocket authenticated as ``user``: count it against CHATSVC_LIMIT_WS_USER."""
    ctx.throttles.ws_user.hit(user["id"])


def _size_gauges(ctx, hub):
    size = metrics.size
    size("chatsvc_connections", "open WebSocket connections",
         lambda: sum(len(c) for c in hub.by_user.values()))
    size("chatsvc_users_online", "users with at least one connection", lambda: len(hub.by_user))
    size("chatsvc_outbox_frames", "frames queued to connections, not yet written",
         lambda: sum(c.queued for conns in hub.by_user.values() for c in conns))
    size("chatsvc_bulk_queue", "operations waiting for the group commit", ctx.bulk.queue_depth)
    size("chatsvc_cache_entries", "entries of the in-process caches", lambda: {
        "teams": ctx.teams.team_count(), "tails": ctx.teams.tail_count(),
        "tail_messages": ctx.teams.cached_messages(), "tokens": len(ctx.tokens)}, "cache")
    size("chatsvc_cache_bytes", "estimated bytes of team states and chat tails",
         ctx.teams.estimated_bytes)
    size("chatsvc_throttle_keys", "keys tracked per throttle", ctx.throttles.sizes, "throttle")
