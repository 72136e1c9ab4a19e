"""`gea-server maintenance`: retention (seed 6.1 and 12) and statistics."""

from __future__ import annotations

import click


@click.command("maintenance")
def maintenance_command() -> None:
    """Delete what is past its retention, archive old ticket activities, refresh statistics."""
    raise click.ClickException("not built yet")
