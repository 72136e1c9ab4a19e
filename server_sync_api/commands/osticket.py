"""`gea-server osticket-push`: create the queued tickets in the ministry's osTicket, and settle
the ones whose answer was lost (--parked, --retry, --mark-sent)."""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

import click

from server_sync_api.commands.support import EnvironmentProblem, migrated_connection, settings_or_exit
from server_sync_api.core.config import ServerSettings
from server_sync_api.services import osticket, osticket_api
from server_sync_api.services.devices import one_line


@click.command("osticket-push")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Send at most this many tickets in this run.",
)
@click.option("--parked", "show_parked", is_flag=True, help="List the tickets parked for a person.")
@click.option(
    "--retry",
    "retry_number",
    metavar="TICKET_NUMBER",
    help="A parked ticket you found missing in osTicket: send it on the next run.",
)
@click.option(
    "--mark-sent",
    "sent_number",
    metavar="TICKET_NUMBER",
    help="A parked ticket you found in osTicket: record its osTicket number (--remote-id).",
)
@click.option("--remote-id", metavar="NUMBER", help="With --mark-sent: the ticket's number in osTicket.")
def osticket_push_command(
    as_json: bool,
    limit: int,
    show_parked: bool,
    retry_number: str | None,
    sent_number: str | None,
    remote_id: str | None,
) -> None:
    """Create the queued tickets in osTicket through its API, retrying failures later.

    A send whose answer was lost may or may not have made the ticket, and osTicket cannot tell
    a repeat, so it is parked: look for its number in osTicket, then --retry or --mark-sent it.
    """
    actions = [
        name
        for name, given in (
            ("--parked", show_parked),
            ("--retry", retry_number is not None),
            ("--mark-sent", sent_number is not None),
        )
        if given
    ]
    if len(actions) > 1:
        raise click.UsageError(f"{' and '.join(actions)} go one at a time.")
    if remote_id is not None and sent_number is None:
        raise click.UsageError("--remote-id goes with --mark-sent TICKET_NUMBER.")
    if sent_number is not None and remote_id is None:
        raise click.UsageError("--mark-sent needs --remote-id: the ticket's number as osTicket shows it.")
    try:
        for number in (retry_number, sent_number):
            if number is not None:
                osticket.check_ticket_number(number)
        if remote_id is not None:
            remote_id = osticket.check_remote_id(remote_id)
    except osticket.OutboxError as exc:
        raise click.UsageError(str(exc)) from None

    settings = settings_or_exit()
    if show_parked:
        _list_parked(settings, as_json)
    elif retry_number is not None:
        _settle(settings, as_json, retry_number, None)
    elif sent_number is not None:
        _settle(settings, as_json, sent_number, remote_id)
    else:
        _push(settings, as_json, limit)


def _push(settings: ServerSettings, as_json: bool, limit: int) -> None:
    try:
        sender = osticket_api.endpoint(settings)
    except osticket_api.OsticketNotConfigured as exc:
        raise EnvironmentProblem(str(exc)) from None
    # The summary tells each ticket's outcome; without a handler, Python's last-resort one would
    # print every warning the service logs (for serve's log) on stderr a second time.
    service_log = logging.getLogger(osticket.__name__)
    if not service_log.hasHandlers():
        service_log.addHandler(logging.NullHandler())
    with migrated_connection(settings, autocommit=True) as conn:
        report = osticket.push(conn, settings, limit=limit, sender=sender)
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.summary())
    if report.failed:
        # Status 1 so cron mails it and a systemd timer's unit shows failed; the rows are safe.
        raise click.exceptions.Exit(1)


def _list_parked(settings: ServerSettings, as_json: bool) -> None:
    with migrated_connection(settings, autocommit=True) as conn:
        rows = osticket.parked_rows(conn)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "ticket_number": r.ticket_number,
                        "title": r.title,
                        "sent_at": r.claimed_at.isoformat() if r.claimed_at else None,
                        "attempts": r.attempts,
                        "error": r.last_error,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("No parked tickets: nothing waits for a person.")
        return
    zone = ZoneInfo(settings.timezone)
    click.echo(f"{'TICKET':<14} {'SENT AT':<16} {'TRIES':>5}  WHY")
    for r in rows:
        when = f"{r.claimed_at.astimezone(zone):%Y-%m-%d %H:%M}" if r.claimed_at else "-"
        click.echo(f"{r.ticket_number:<14} {when:<16} {r.attempts:>5}  {one_line(r.last_error or '')}")
    click.echo(
        f"{len(rows)} parked ({settings.timezone} times). For each, search osTicket for the subject "
        "'[GEA <ticket>]':\n"
        "  found it:     gea-server osticket-push --mark-sent TICKET --remote-id OSTICKET_NUMBER\n"
        "  not there:    gea-server osticket-push --retry TICKET"
    )


def _settle(settings: ServerSettings, as_json: bool, number: str, remote_id: str | None) -> None:
    with migrated_connection(settings, autocommit=True) as conn:
        try:
            if remote_id is None:
                osticket.retry(conn, number)
            else:
                osticket.mark_sent(conn, number, remote_id)
        except osticket.OutboxError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        state = "pending" if remote_id is None else "sent"
        click.echo(json.dumps({"ticket_number": number, "state": state, "remote_id": remote_id}))
    elif remote_id is None:
        click.echo(f"Ticket {number} is queued again: the next osticket-push sends it to osTicket.")
    else:
        click.echo(f"Ticket {number} recorded as osTicket #{remote_id}; it will not be sent again.")
