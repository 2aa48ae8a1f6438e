"""Team administration and compliance: roles, retention, legal holds, audit, the
scheduled compliance export.

Every view is for an admin (roles, retention changes) or an admin or compliance officer
(holds, audit, reading policies): anyone else gets 403; an id of another team, 404.
"""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_args, load_json, me
from chatsvc.chat import audit, export_schedule, holds, retention, roles
from chatsvc.errors import NotFound
from chatsvc.ids import parse_id

bp = Blueprint("admin", __name__)


def _id(raw: str, what: str) -> str:
    number = parse_id(raw)
    if number is None:
        raise NotFound(f"no such {what}")
    return str(number)


@bp.put("/api/admin/users/<user_id>/roles")
@endpoint("Grant or take back a member's roles (admin only; never the last admin)",
          body=s.RolesIn, response=s.MeOut)
def set_roles(user_id):
    data = load_json(s.RolesIn())
    return roles.set_roles(ctx(), me(), _id(user_id, "user"), data.get("admin"), data.get("compliance"))


@bp.get("/api/admin/retention")
@endpoint("The team's retention policy and every chat's own", response=s.PoliciesOut)
def get_retention():
    return retention.get_policies(ctx(), me())


@bp.put("/api/admin/retention")
@endpoint("Set the team's retention policy (days, or null: forever; admin only)",
          body=s.RetentionIn, response=s.PoliciesOut)
def set_team_retention():
    return retention.set_policy(ctx(), me(), load_json(s.RetentionIn())["days"])


@bp.put("/api/admin/chats/<chat_id>/retention")
@endpoint("Set a chat's own retention policy, overriding the team's (admin only)",
          body=s.RetentionIn, response=s.PoliciesOut)
def set_chat_retention(chat_id):
    days = load_json(s.RetentionIn())["days"]
    return retention.set_policy(ctx(), me(), days, _id(chat_id, "chat"))


@bp.delete("/api/admin/chats/<chat_id>/retention")
@endpoint("Remove a chat's own policy: it follows the team's again (admin only)", response=s.PoliciesOut)
def clear_chat_retention(chat_id):
    return retention.clear_chat_policy(ctx(), me(), _id(chat_id, "chat"))


@bp.post("/api/admin/retention/run")
@endpoint("Run retention for the team now, or a dry run (admin only)", body=s.RetentionRunIn,
          response=s.RetentionRunOut)
def run_retention():
    return retention.run_for_team(ctx(), me(), load_json(s.RetentionRunIn())["dry_run"])


@bp.post("/api/admin/holds")
@endpoint("Place a legal hold on users and/or chats", body=s.HoldIn, response=s.HoldOut, status=201)
def create_hold():
    data = load_json(s.HoldIn())
    return holds.create_hold(ctx(), me(), data["name"], data["reason"], data["user_ids"], data["chat_ids"]), 201


@bp.get("/api/admin/holds")
@endpoint("The team's legal holds, active and released", response=s.HoldsOut)
def list_holds():
    return {"holds": holds.list_holds(ctx(), me())}


@bp.delete("/api/admin/holds/<hold_id>")
@endpoint("Release a legal hold (its record stays)", response=s.HoldOut)
def release_hold(hold_id):
    return holds.release_hold(ctx(), me(), _id(hold_id, "hold"))


@bp.get("/api/admin/audit")
@endpoint("The team's audit log, newest first (read only)", query=s.AuditQuery, response=s.AuditOut)
def audit_log():
    args = load_args(s.AuditQuery())
    return audit.page(ctx(), me(), args["limit"], args["before"])


@bp.get("/api/admin/export-schedule")
@endpoint("The team's scheduled compliance export (admins only)", response=s.ExportScheduleOut)
def get_export_schedule():
    return export_schedule.get_schedule(ctx(), me())


@bp.put("/api/admin/export-schedule")
@endpoint("Set the team's scheduled compliance export (admins only)", body=s.ExportScheduleIn,
          response=s.ExportScheduleOut)
def put_export_schedule():
    data = load_json(s.ExportScheduleIn())
    return export_schedule.set_schedule(ctx(), me(), data["every_hours"], data["format"],
                                        data["destination"], data["enabled"])
