"""Liveness and readiness probes."""
from flask import Blueprint

from chatsvc.api.base import ctx, endpoint
from chatsvc.chat import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@endpoint("Liveness: 200 while the process serves", auth=False)
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@endpoint("Readiness: 200 when the engine answers and the indices exist, else 503", auth=False)
def readyz():
    ready, reason = health.readiness(ctx())
    return {"status": "ready" if ready else "unavailable", "detail": reason}, 200 if ready else 503
