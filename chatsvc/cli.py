"""``flask --app wsgi chatsvc ...``: administration commands."""
import click
from flask import Flask

from chatsvc.store.indices import bootstrap


def register(app: Flask):
    @app.cli.group("chatsvc")
    def group():
        """chatsvc administration."""

    @group.command("init-indices")
    def init_indices():
        """Apply the index templates and create the indices (idempotent)."""
        created = bootstrap(app.extensions["chatsvc"].engine)
        click.echo("created: " + (", ".join(created) if created else "nothing (all present)"))
