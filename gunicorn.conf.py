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


def post_worker_init(worker):
    """Start the app's background jobs (the daily retention run) in the worker only."""
    start = getattr(worker.wsgi, "extensions", {}).get("chatsvc.start_jobs")
    if start is not None:
        start()
