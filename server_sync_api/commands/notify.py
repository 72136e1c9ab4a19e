"""`gea-server notify`: mail the officers what the notification outbox holds."""

from __future__ import annotations

import click


@click.command("notify")
def notify_command() -> None:
    """Send the pending notifications to officers by mail (SMTP)."""
    raise click.ClickException("not built yet")
