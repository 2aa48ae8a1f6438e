"""``flask --app wsgi chatsvc ...``: administration commands."""
import atexit
import logging

import click
from flask import Flask

from chatsvc import cli_compliance, cli_export, cli_import
from chatsvc.cli_engine import job_engine
from chatsvc.store.indices import bootstrap

_teardown_registered = False


def _quiet_logging_teardown():
    """Flush and close the log handlers now, then forget them.

    Under gevent's monkey patching, a handler garbage-collected during interpreter
    teardown runs logging's weakref callback after gevent's modules are gone, and
    Python prints ``Exception ignored ... gevent/thread.py ... TypeError``. Doing
    logging's own shutdown here (atexit runs this before logging's) and emptying its
    handler list makes that callback a no-op."""
    logging.shutdown()
    del logging._handlerList[:]  # noqa: SLF001  (the list logging's callback consults)


def _register_teardown():
    global _teardown_registered
    if not _teardown_registered:
        atexit.register(_quiet_logging_teardown)
        _teardown_registered = True


def register(app: Flask):
    _register_teardown()
    @app.cli.group("chatsvc")
    def group():
        """chatsvc administration."""

    @group.command("init-indices")
    def init_indices():
        """Apply the index templates and create the indices (idempotent)."""
        created = bootstrap(app.extensions["chatsvc"].engine)
        click.echo("created: " + (", ".join(created) if created else "nothing (all present)"))

    cli_import.register(group, app)
    cli_compliance.register(group, app)
    cli_export.register(group, app)

    @group.command("reindex")
    @click.option("--restart", is_flag=True, help="Forget the recorded progress and start over.")
    @click.option("--index", "only", help="Only this messages index (default: every one).")
    @click.option("--slices", default="auto", show_default=True, help="update_by_query slices.")
    def reindex_command(restart, only, slices):
        """Index existing messages again with the current mapping (online, resumable):
        new sub-fields (CJK, URL/identifier parts) and has_link for old messages."""
        from chatsvc.cli_compliance import _engine  # noqa: PLC0415
        from chatsvc.store.reindex import reindex  # noqa: PLC0415
        engine = _engine(app, timeout=3600)
        done = reindex(engine, restart=restart, slices=slices, only=only,
                       report=lambda line: click.echo(f"reindex: {line}", err=True))
        click.echo(f"reindexed {sum(done.values())} documents in {len(done)} indices")

    @group.command("export")
    @click.option("--team", required=True, help="Team name (any case) or team id.")
    @click.option("--since", help="From this day (YYYY-MM-DD, 00:00Z) or RFC 3339 timestamp, inclusive.")
    @click.option("--until", help="Through this day (YYYY-MM-DD, to its end) or RFC 3339 timestamp, inclusive.")
    @click.option("--chat", "chats", multiple=True, help="Only this chat id (repeatable).")
    @click.option("--user", "users", multiple=True,
                  help="Only the chats this username was ever a member of, so all they sent (repeatable).")
    @click.option("--query", help="PROTOCOL.md search language, without per-user visibility rules.")
    @click.option("--hold", help="Only what this legal hold covers (its chats, and what its users sent).")
    @click.option("--out", type=click.Path(), help="Output folder (default ./export-<team>-<timestamp>).")
    @click.option("--format", "fmt", type=click.Choice(cli_export.FORMATS), default="jsonl",
                  show_default=True, help="JSON Lines, CSV, per-chat HTML transcripts, Actiance XML "
                  "or Global Relay EML (a zip, and by SMTP with --smtp).")
    @cli_export.format_options
    @click.option("--resume", is_flag=True, help="Continue the interrupted export in --out.")
    @click.option("--no-files", "no_files", is_flag=True,
                  help="Leave attachments out (records still list each file's name, size and hash).")
    @click.option("--progress/--no-progress", default=None,
                  help="Progress bar on stderr (default: only when stderr is a terminal).")
    @click.option("--page-size", type=click.IntRange(1, 10000), default=10000, hidden=True)
    @click.option("--stop-after", type=click.IntRange(0), default=None, hidden=True,
                  help="Test hook: stop as if interrupted after this many messages.")
    def export(team, since, until, chats, users, query, out, fmt, resume, progress,
               page_size, stop_after, hold, no_files=False, **format_options):
        """Export a team's history (deleted and hidden messages included) for audit.

        Writes the messages in chat then id order from one consistent snapshot, with
        manifest.json (filters, counts and first/last id per chat, snapshot time, SHA-256
        of every file). Exit codes: 0 done, 2 bad filter, 3 unknown team, 4 search engine
        unreachable, 5 output not writable, 6 interrupted (continue with --resume), 7 SMTP
        delivery failed (continue with --resume), 130 interrupted by Ctrl-C (continue with
        --resume). The manifest is signed (see `scripts/export key`, `scripts/export verify`).
        """
        from chatsvc.export import ExportError, ExportOptions, run_export  # noqa: PLC0415
        from chatsvc.export.filters import Filters  # noqa: PLC0415
        from chatsvc.blobs import make_blob_store  # noqa: PLC0415

        opts = ExportOptions(
            filters=Filters(team=team, since=since, until=until, chats=tuple(chats),
                            users=tuple(users), query=query, hold=hold),
            out=out, format=fmt, resume=resume, page_size=page_size, stop_after=stop_after,
            progress=progress, format_options=cli_export.pack(fmt, format_options),
            files=not no_files, blobs=None if no_files else make_blob_store(app.config["CHATSVC"]))
        try:
            manifest = run_export(job_engine(app), opts)
        except ExportError as exc:
            click.echo(f"export: error: {exc.message}", err=True)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo(f"\nexport: interrupted; continue with --resume --out {opts.out}", err=True)
            raise SystemExit(130) from None
        elapsed = manifest.pop("_elapsed_s", None)
        total = manifest["totals"]["messages"]
        rate = f" in {elapsed:.1f} s ({total / elapsed:,.0f} messages/s)" if elapsed else ""
        click.echo(f"export: {total} messages in {manifest['totals']['chats']} chats of team "
                   f"{manifest['team']['name']} -> {opts.out}{rate}", err=True)
        click.echo(cli_export.signed_note(manifest), err=True)
