"""`gea-server sla-scan`: record SLA breaches and escalate (seed 5.3, ARCHITECTURE 4.14)."""

from __future__ import annotations

import json

import click

from server_sync_api.commands.support import database_errors, migrated_connection, settings_or_exit
from server_sync_api.services import sla_scan


@click.command("sla-scan")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sla_scan_command(as_json: bool) -> None:
    """Record every SLA breach of open tickets once and escalate as seed section 5.3 says.

    Safe to run every minute, from several hosts at once: a run that finds another running
    says so and exits 0.
    """
    settings = settings_or_exit()
    with migrated_connection(settings) as conn, database_errors():
        report = sla_scan.scan(conn)
    click.echo(json.dumps(report.as_json()) if as_json else report.summary())
