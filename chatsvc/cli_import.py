"""``flask chatsvc import slack EXPORT.zip --team NAME`` (also ``scripts/import slack``)."""
import sys

import click

from chatsvc.cli_engine import job_engine
from chatsvc.store.engine import redacted


def register(group, app):
    @group.group("import")
    def import_group():
        """Import history from another chat service."""

    @import_group.command("slack")
    @click.argument("export_zip", metavar="EXPORT.zip")
    @click.option("--team", required=True, help="Team name: created if it does not exist (its invite code is printed).")
    @click.option("--skip-unknown-users", is_flag=True,
                  help="Import even if messages or members name users missing from users.json (their messages are skipped).")
    @click.option("--progress/--no-progress", default=None,
                  help="Progress bar on stderr (default: only when stderr is a terminal).")
    def slack(export_zip, team, skip_unknown_users, progress):
        """Import a Slack workspace export (the .zip from Slack's admin export).

        Users, channels, private channels, DMs and group DMs with their members and former
        members, and every message with its original time, threads (replies, broadcast
        replies, the roots' summaries), likes (+1 reactions), emoji reactions (custom emoji
        as text), edit times, and files (as links). The whole archive
        is checked before anything is written; a second run of the same export adds
        nothing. Start (or restart) the server after the import: a server that has already
        served the team keeps its earlier view of the team's users and chats until it restarts.

        Exit codes: 0 done, 2 bad archive (missing, not a zip, bad JSON, unknown users, ...;
        nothing written), 3 bad team name, 4 search engine unreachable or refusing writes,
        5 incomplete (some messages not stored: run it again to finish), 130 Ctrl-C (run it
        again to finish).
        """
        from chatsvc.chat.context import ChatContext  # noqa: PLC0415
        from chatsvc.chat.events import NullPublisher  # noqa: PLC0415
        from chatsvc.chat.slack_import import ImportFailed, import_slack, summary_lines  # noqa: PLC0415
        from chatsvc.errors import Unavailable  # noqa: PLC0415
        from chatsvc.store.engine import TransportError  # noqa: PLC0415
        from chatsvc.store.indices import bootstrap  # noqa: PLC0415

        config = app.config["CHATSVC"]
        show = progress if progress is not None else sys.stderr.isatty()

        def bar(total, label):
            if not show:
                return None
            from tqdm import tqdm  # noqa: PLC0415
            tqdm.monitor_interval = 0
            t = tqdm(total=total, unit="msg", unit_scale=True, file=sys.stderr, desc=label)
            return _Bar(t)

        try:
            engine = job_engine(app, timeout=120.0)
            bootstrap(engine)
            ctx = ChatContext(config, engine, NullPublisher())
            summary = import_slack(ctx, export_zip, team, skip_unknown_users=skip_unknown_users,
                                   progress_factory=bar)
        except ImportFailed as exc:
            click.echo(f"import: error: {exc.message}", err=True)
            raise SystemExit(exc.exit_code) from None
        except Unavailable as exc:
            click.echo(f"import: error: {exc.message} (search engine at {redacted(config.search_url)}); "
                       "run the import again to finish", err=True)
            raise SystemExit(4) from None
        except TransportError as exc:
            click.echo(f"import: error: the search engine refused a request: {exc}", err=True)
            raise SystemExit(4) from None
        except KeyboardInterrupt:
            click.echo("\nimport: interrupted; run the same command again to finish", err=True)
            raise SystemExit(130) from None
        for line in summary_lines(summary):
            click.echo("import: " + line)
        click.echo(f"import: done; start the server (scripts/run) and log in to team {summary.team['name']!r}. "
                   "Imported people claim their account by signing up with the invite code and their username.")


class _Bar:
    def __init__(self, tqdm_bar):
        self._t = tqdm_bar

    def __call__(self, n):
        self._t.update(n)

    def close(self):
        self._t.close()
