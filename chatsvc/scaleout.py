"""Wiring of the scale-out deployment (issue 18), used by create_app when
CHATSVC_TEAM_LEASES=1: the team leases, the routing header, the handover.

With a single instance (the default) none of this is installed and everything behaves
as before.
"""
import hmac
import logging
import time

from flask import Blueprint, Flask, jsonify, request

from chatsvc import routing
from chatsvc.chat import directory_sync
from chatsvc.chat.ownership import Ownership
from chatsvc.gateway.handover import close_team

log = logging.getLogger(__name__)


def install(app: Flask, ctx, hub) -> Ownership:
    config = ctx.config
    ownership = Ownership(ctx.engine, ctx.bulk, config.instance_name, config.lease_seconds, config.lease_wait)
    ctx.teams.guard = ownership
    app.extensions["chatsvc.ownership"] = ownership

    def release(team_id: str):
        closed = close_team(hub, team_id)
        ctx.teams.evict(team_id)
        log.info("released team %s (%d connection(s) closed)", team_id, closed)
    ownership.on_release = release
    ownership.on_acquired = lambda team_id: _forget_tokens(ctx, team_id)
    ownership.on_renewed = _directory_poller(ctx, config.directory_poll)

    # Presence of a team that moved away is its new owner's business.
    report = hub.on_presence
    hub.on_presence = lambda user, status, seen: (report(user, status, seen)
                                                  if ownership.serves(user["team_id"]) else None)

    app.before_request(lambda: routing.set_from_headers(request.headers))
    app.register_blueprint(_operators_bp(ownership, config.secret))
    start_jobs = app.extensions["chatsvc.start_jobs"]

    def start_all():
        ownership.start()
        start_jobs()
    app.extensions["chatsvc.start_jobs"] = start_all
    return ownership


def _forget_tokens(ctx, team_id: str):
    """A team taken over: tokens of it cached here before (e.g. at a login this instance
    answered for another owner) are looked up in the engine again, so one revoked
    meanwhile on the previous owner is refused here too."""
    ctx.tokens.forget_team(team_id)


def _directory_poller(ctx, every: float):
    last = [0.0]

    def maybe_poll(team_ids):
        if team_ids and time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            directory_sync.poll(ctx, team_ids)
    return maybe_poll


def _operators_bp(ownership: Ownership, secret: str) -> Blueprint:
    """``GET /internal/teams`` with ``X-Chatsvc-Secret: <CHATSVC_SECRET>``: the teams this
    instance serves now (for operators and the fault tests); 404 without the secret."""
    bp = Blueprint("scaleout", __name__)

    @bp.get("/internal/teams")
    def served_teams():
        given = request.headers.get("X-Chatsvc-Secret", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return jsonify(error={"code": "not_found", "message": "not found"}), 404
        return {"instance": ownership.name, "teams": ownership.held_teams()}
    return bp
