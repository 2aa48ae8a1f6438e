"""Liveness and readiness probes."""
from flask import Blueprint, current_app

from chatsvc.store.indices import is_ready

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    ready, reason = is_ready(current_app.extensions["chatsvc"].engine)
    return {"status": "ready" if ready else "unavailable", "detail": reason}, 200 if ready else 503
