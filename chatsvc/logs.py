"""Access logs with a request id, and JSON log lines as an option (CHATSVC_LOG_JSON=1).

Each request gets an id: the caller's ``X-Request-Id`` when it is a short token, else a
new one. It is echoed in the response's ``X-Request-Id`` and in the access line, so one
request can be followed from the client through the proxy into this log.
"""
import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from chatsvc import metrics

access_log = logging.getLogger("chatsvc.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the access fields."""

    FIELDS = ("request_id", "method", "path", "status", "ms", "address")

    def format(self, record):
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                "logger": record.name, "message": record.getMessage()}
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(json_lines: bool):
    """Give chatsvc's loggers a stderr handler (gunicorn only sets up its own), in JSON
    when asked; gunicorn's error log gets the same format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s"))
    root = logging.getLogger("chatsvc")
    if not any(getattr(h, "_chatsvc", False) for h in root.handlers):
        handler._chatsvc = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    if json_lines:
        for name in ("gunicorn.error", "gunicorn.access"):
            for h in logging.getLogger(name).handlers:
                h.setFormatter(JsonFormatter())


def init_app(app: Flask):
    @app.before_request
    def _start():
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def _log(response):
        request_id = g.get("request_id") or uuid.uuid4().hex[:16]
        response.headers["X-Request-Id"] = request_id
        ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        access_log.info("%s %s %s %sms id=%s", request.method, request.path, response.status_code,
                        ms, request_id, extra={"request_id": request_id, "method": request.method,
                                               "path": request.path, "status": response.status_code,
                                               "ms": ms, "address": request.remote_addr})
        return response
