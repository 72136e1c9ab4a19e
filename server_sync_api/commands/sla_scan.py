"""`gea-server sla-scan`: record SLA breaches and escalate (seed 5.3, ARCHITECTURE 4.14)."""

from __future__ import annotations

import click


@click.command("sla-scan")
def sla_scan_command() -> None:
    """Record every SLA breach of open tickets once and escalate as seed section 5.3 says."""
    raise click.ClickException("not built yet")
