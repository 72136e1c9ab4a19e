"""`gea-server notify`: mail the officers what the notification outbox holds.

Exit status: 0 when everything due was handled (sent, or skipped with the reason recorded);
1 when some notifications wait for a retry because the mail server failed (the summary says
how); 2 when the settings or the database stop it before anything is sent.
"""

from __future__ import annotations

import json

import click

from server_sync_api.commands.support import (
    EnvironmentProblem,
    database_errors,
    migrated_connection,
    settings_or_exit,
)
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.services import notifications

RETRY_PENDING = 1


@click.command("notify")
@click.option(
    "--limit",
    type=click.IntRange(1, notifications.MAX_LIMIT),
    default=notifications.DEFAULT_LIMIT,
    show_default=True,
    help="Notifications to send at most in this run; the rest wait for the next.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's figures as one JSON object.")
def notify_command(limit: int, as_json: bool) -> None:
    """Send the pending notifications to officers by mail (SMTP).

    Safe to run every minute and from several hosts at once: each notification goes out once.
    Settings: GEA_SERVER_SMTP_HOST, _PORT, _STARTTLS, _USERNAME, _PASSWORD and _FROM.
    """
    settings = settings_or_exit()
    with migrated_connection(settings) as conn:
        pending = notifications.waiting(conn)
    try:
        notifications.mail_server(settings)
    except notifications.MailNotConfigured as exc:
        raise EnvironmentProblem(
            f"{exc}. Nothing was sent; {_waiting(pending)} in the outbox (docs/notifications.md)."
        ) from None
    with database_errors():
        report = notifications.send_due(libpq_conninfo(settings.url), settings, limit=limit)
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.summary())
    if report.retrying:
        raise click.exceptions.Exit(RETRY_PENDING)


def _waiting(count: int) -> str:
    return "1 notification waits" if count == 1 else f"{count} notifications wait"
