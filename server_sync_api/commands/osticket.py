"""`gea-server osticket-push`: create the queued tickets in the ministry's osTicket."""

from __future__ import annotations

import click


@click.command("osticket-push")
def osticket_push_command() -> None:
    """Create queued tickets in osTicket through its API."""
    raise click.ClickException("not built yet")
