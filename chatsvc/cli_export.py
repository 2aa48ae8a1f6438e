"""The export's commands beside ``flask chatsvc export`` (chatsvc/cli.py):

  export-key        print the PEM public key of the export signing key (made on first use)
  export-verify DIR check an export folder against its signed manifest (exit 0/1/2)
  export-scheduled  show the scheduled exports, or --run-due: run what is due now

and the options ``export`` takes for the Actiance and Global Relay formats.
"""
import json

import click

from chatsvc.cli_engine import job_engine

FORMATS = ["jsonl", "csv", "html", "actiance", "globalrelay"]


def format_options(command):
    """The format options of ``export`` (packed into one dict by :func:`pack`)."""
    options = [
        click.option("--email-domain", help="Domain of participants' addresses in Actiance and "
                     "Global Relay (<username>@DOMAIN; default chatsvc.invalid)."),
        click.option("--eml-max-bytes", type=click.IntRange(1024), default=None,
                     help="Global Relay: largest e-mail (its parts), bytes; a chat's messages are "
                     "split into several e-mails below it (default 25 MiB)."),
        click.option("--smtp", metavar="HOST:PORT", help="Global Relay: also send each e-mail by SMTP."),
        click.option("--smtp-to", metavar="ADDRESS", help="Global Relay: the archive's address (with --smtp)."),
        click.option("--smtp-from", metavar="ADDRESS", help="Global Relay: envelope sender (with --smtp)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def pack(fmt: str, values: dict) -> dict:
    """The format options as ExportOptions.format_options; a usage error (exit 2) when
    they do not fit the format."""
    opts = {k: v for k, v in values.items() if v is not None}
    smtp = {k for k in ("smtp", "smtp_to", "smtp_from") if k in opts}
    if (smtp or "eml_max_bytes" in opts) and fmt != "globalrelay":
        raise click.UsageError("--smtp, --smtp-to, --smtp-from and --eml-max-bytes go with --format globalrelay")
    if smtp and not {"smtp", "smtp_to"} <= smtp:
        raise click.UsageError("SMTP delivery needs both --smtp HOST:PORT and --smtp-to ADDRESS")
    if "smtp" in opts:
        host, _, port = opts["smtp"].rpartition(":")
        if not host or not port.isdigit():
            raise click.UsageError(f"--smtp {opts['smtp']!r}: expected HOST:PORT")
    return opts


def signed_note(manifest: dict) -> str:
    from chatsvc.export import signing  # noqa: PLC0415
    sig = manifest.get("signature") or {}
    chain = manifest.get("chain") or {}
    prev = chain.get("previous_manifest_sha256")
    return (f"export: manifest signed ({sig.get('algorithm')}, key {sig.get('key_id')}); export "
            f"#{chain.get('sequence')} of the team, previous manifest "
            f"{'sha256 ' + prev if prev else '(none: the first)'}; check it with "
            f"`scripts/export verify DIR --public-key FILE`; the public key:\n"
            + signing.public_pem(signing.public_from_manifest(manifest)).rstrip())


def register(group, app):
    @group.command("export-key")
    @click.option("--key", "key_file", type=click.Path(dir_okay=False),
                  help="The signing key (default: $CHATSVC_EXPORT_KEY or var/keys/export-ed25519.pem).")
    def export_key(key_file):
        """Print the export signing key's public half (PEM); the key is made on first use."""
        from chatsvc.export import signing  # noqa: PLC0415
        from chatsvc.export.errors import ExportError  # noqa: PLC0415
        try:
            key = signing.load_or_create_key(key_file)
        except ExportError as exc:
            click.echo(f"export key: error: {exc.message}", err=True)
            raise SystemExit(exc.exit_code) from None
        click.echo(signing.public_pem(key), nl=False)
        click.echo(f"key {signing.key_id(key)} at {signing.key_path(key_file)}", err=True)

    @group.command("export-verify")
    @click.argument("folder", type=click.Path(file_okay=False))
    @click.option("--public-key", type=click.Path(dir_okay=False),
                  help="PEM public key the manifest must be signed with (from `scripts/export key`).")
    def export_verify(folder, public_key):
        """Check an export folder: every file's hash, size, line and record count, the
        counts, and the manifest's signature. Exit 0 all good, 1 something differs (each
        difference named), 2 not an export."""
        from chatsvc.export import verify  # noqa: PLC0415
        report = verify.verify(folder, public_key)
        click.echo(verify.format_report(report), nl=False,
                   err=report.exit_code != verify.EXIT_OK)
        raise SystemExit(report.exit_code)

    @group.command("export-scheduled")
    @click.option("--run-due", is_flag=True, help="Run every scheduled export that is due now.")
    def export_scheduled(run_due):
        """The admins' scheduled exports (PUT /api/admin/export-schedule): list them, or
        run what is due (what the server's scheduler does)."""
        from chatsvc.export import scheduled  # noqa: PLC0415
        engine = job_engine(app)
        if not run_due:
            for s in scheduled.schedules(engine):
                click.echo(json.dumps(s, ensure_ascii=False))
            return
        results = scheduled.run_due(engine, log=lambda t: click.echo(t, err=True))
        for r in results:
            click.echo(json.dumps(r, ensure_ascii=False))
        if any(r.get("status") == "failed" for r in results):
            raise SystemExit(1)
