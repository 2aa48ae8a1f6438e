"""``flask chatsvc retention run`` and ``flask chatsvc audit export`` (issue 17)."""
import json
import sys

import click

from chatsvc.cli_engine import job_engine


def _engine(app, timeout: float = 120.0):
    from chatsvc.store.indices import bootstrap  # noqa: PLC0415
    engine = job_engine(app, timeout)
    bootstrap(engine)
    return engine


def _team_id(engine, name: str) -> str:
    from chatsvc.export.errors import ExportError  # noqa: PLC0415
    from chatsvc.export.records import find_team  # noqa: PLC0415
    try:
        return find_team(engine, name)["id"]
    except ExportError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(3) from None


def _ids(app):
    from chatsvc.ids import SnowflakeGenerator  # noqa: PLC0415
    return SnowflakeGenerator(app.config["CHATSVC"].worker_id)


def _blob_reaper(app, engine):
    from chatsvc.blobs import make_blob_store  # noqa: PLC0415
    from chatsvc.chat.blob_reaper import BlobReaper  # noqa: PLC0415
    return BlobReaper(engine, make_blob_store(app.config["CHATSVC"]))


def register(group, app):
    @group.group("retention")
    def retention_group():
        """Retention policies: enforce them."""

    @retention_group.command("run")
    @click.option("--team", help="Only this team (name or id); default every team with a policy.")
    @click.option("--dry-run", is_flag=True, help="Report what would be deleted (per chat), delete nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    def retention_run(team, dry_run, as_json):
        """Delete messages older than their chat's (or team's) policy, except held ones.

        Running servers drop the deleted messages from their in-memory tails (recent
        messages) within CHATSVC_RETENTION_POLL seconds (default 60): they poll the run
        record this command writes at its end. Exit codes: 0 done, 3 unknown team, 4
        search engine unreachable."""
        from chatsvc.chat import retention  # noqa: PLC0415
        from chatsvc.errors import Unavailable  # noqa: PLC0415
        try:
            engine = _engine(app)
            team_ids = [_team_id(engine, team)] if team else None
            report = retention.run(engine, _ids(app), team_ids=team_ids, dry_run=dry_run,
                                   files=_blob_reaper(app, engine))
        except Unavailable as exc:
            click.echo(f"retention: error: {exc.message}", err=True)
            raise SystemExit(4) from None
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2))
            return
        verb = "would delete" if dry_run else "deleted"
        for t in report.teams:
            click.echo(f"retention: team {t.team_name!r}: {verb} {t.total} messages")
            for chat_id, n in sorted(t.chats.items()):
                click.echo(f"retention:   chat {chat_id}: {n}")
        click.echo(f"retention: {verb} {report.total} messages in {len(report.teams)} teams"
                   + ("" if dry_run else "; running servers drop them from their caches at their next poll"))

    @group.group("audit")
    def audit_group():
        """The audit log of admin and compliance actions (read only)."""

    @audit_group.command("export")
    @click.option("--team", required=True, help="Team name (any case) or team id.")
    @click.option("--out", type=click.Path(dir_okay=False), help="JSON Lines file (default: stdout).")
    def audit_export(team, out):
        """Every audit entry of the team, oldest first, as JSON Lines."""
        from chatsvc.chat import audit  # noqa: PLC0415
        engine = _engine(app)
        team_id = _team_id(engine, team)
        f = open(out, "w", encoding="utf-8") if out else sys.stdout
        n = 0
        try:
            for line in audit.export_lines(engine, team_id):
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
                n += 1
        finally:
            if out:
                f.close()
        audit.record(engine, _ids(app), team_id, "audit.export", {"id": None, "username": "(command line)"},
                     details={"entries": n, "out": out})
        click.echo(f"audit: {n} entries" + (f" -> {out}" if out else ""), err=True)
