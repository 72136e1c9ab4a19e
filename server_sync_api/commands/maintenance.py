"""`gea-server maintenance`: retention (seed 6.1 and 12) and statistics; docs/maintenance.md."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from server_sync_api.commands.support import migrated_connection, settings_or_exit
from server_sync_api.services import maintenance


@click.command("maintenance")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def maintenance_command(as_json: bool) -> None:
    """Delete what is past its retention, archive old ticket activities, refresh statistics.

    Safe while the server serves and from several hosts at once: a run that finds another
    under way says so and exits 0. Run it daily (docs/maintenance.md)."""
    settings = settings_or_exit()
    with migrated_connection(settings, autocommit=True) as conn:
        # The desk's idle limit as serve applies it, so no live session is taken for idle.
        report = maintenance.run(conn, session_idle=timedelta(minutes=settings.session_idle_minutes))
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.summary())
