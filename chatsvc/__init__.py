"""chatsvc: a search-centric team chat service.

``create_app()`` reads the configuration, connects to the engine, bootstraps the
indices, builds the business context and wires the REST API, the WebSocket gateway and
the browser workspace into one Flask app.
"""
import logging
import os

from flask import Flask

from chatsvc import api, cli, gateway, hardening, web
from chatsvc.api import frames
from chatsvc.chat import accounts, people, retention, tokens
from chatsvc.chat.context import ChatContext
from chatsvc.config import Config
from chatsvc.store import Engine
from chatsvc.store.indices import bootstrap

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, *, init_indices: bool = True) -> Flask:
    config = config or Config.from_env(os.environ)
    app = Flask(__name__, static_folder=None)  # the workspace blueprint serves /static
    app.config["CHATSVC"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False

    engine = Engine(config.search_url, config.index_prefix, config.engine_pool_size,
                    config.engine_timeout, config.index_shards, config.index_replicas,
                    config.wait_for_active_shards)
    if init_indices:
        _bootstrap_quietly(engine)

    hub = gateway.Hub(config.presence_grace)
    ctx = ChatContext(config, engine, hub)
    hub.on_presence = lambda user, status, last_seen: people.presence_changed(ctx, user, status, last_seen)
    app.extensions["chatsvc"] = ctx
    app.extensions["chatsvc.hub"] = hub
    # Background jobs start only in a server worker (gunicorn.conf.py), not in CLI commands.
    app.extensions["chatsvc.start_jobs"] = lambda: _start_jobs(app, ctx)

    def authenticate(token):
        user, digest = accounts.authenticate(ctx, token)
        hardening.admit_socket_user(ctx, user)
        return user, accounts.public_user(user), digest

    gateway.init_app(app, gateway.Gateway(config, hub, authenticate, frames.command_table(ctx),
                                          check_tokens=lambda uses: tokens.check_sockets(ctx, uses)))

    # -- scale-out (issue 18): one owner per team behind the proxy --------------------
    if config.team_leases:
        from chatsvc import scaleout  # noqa: PLC0415 - only behind the proxy
        scaleout.install(app, ctx, hub)
    # -------------------------------------------------------------------------------

    api.init_app(app)
    # -- issue 16: proxies, headers, /ws origin, throttles' metrics, /metrics, access logs --
    hardening.wire(app, ctx, hub)
    app.register_blueprint(web.bp)
    cli.register(app)
    return app


def _start_jobs(app: Flask, ctx: ChatContext):
    """The daily retention run and the due scheduled exports, each under its own lease;
    the sweep of text extractions a crash left pending."""
    from chatsvc.export.scheduled import start_in_server  # noqa: PLC0415 - server only
    retention.start_scheduler(ctx)
    ctx.file_text.start_recovery()
    start_in_server(app)


def _bootstrap_quietly(engine: Engine):
    """Apply templates at start; if the engine is down, start anyway (/readyz says 503)
    and let `flask chatsvc init-indices` or the next start finish the job."""
    try:
        bootstrap(engine)
    except Exception as exc:
        log.warning("index bootstrap failed (engine at %s): %s", engine.safe_url, exc)
