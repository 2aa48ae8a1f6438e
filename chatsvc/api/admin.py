"""Team administration over REST: the scheduled compliance export (admins only)."""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, load_json, me
from chatsvc.chat import export_schedule

bp = Blueprint("admin", __name__)


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
