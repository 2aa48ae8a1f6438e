"""gunicorn settings: one gevent worker serves REST and /ws (DESIGN.md: presence and
sessions live in process, so a team is served by one worker; scale out by instances)."""
import os

bind = os.environ.get("CHATSVC_BIND", "127.0.0.1:8000")
workers = 1
worker_class = "gevent"
worker_connections = int(os.environ.get("CHATSVC_MAX_CONNECTIONS", "20000"))
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("CHATSVC_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("CHATSVC_LOG_LEVEL", "info")


def on_starting(server):
    """Refuse to serve with the built-in secret outside development (CHATSVC_ENV).

    config.py is loaded by its path: importing the chatsvc package here, in the master,
    would import the engine client before the worker's gevent monkey-patching."""
    import importlib.util  # noqa: PLC0415

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chatsvc", "config.py")
    spec = importlib.util.spec_from_file_location("_chatsvc_config_check", path)
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    try:
        config.Config.from_env(os.environ).check_secret()
    except config.ConfigError as exc:
        raise SystemExit(f"chatsvc: refusing to start: {exc}") from None


def post_worker_init(worker):
    """Start the app's background jobs (the daily retention run) in the worker only."""
    start = getattr(worker.wsgi, "extensions", {}).get("chatsvc.start_jobs")
    if start is not None:
        start()
