"""`gea-server calendars`: SLA calendars, their working hours, holidays and closures."""

from __future__ import annotations

import click


@click.group("calendars")
def calendars_group() -> None:
    """SLA calendars: working hours, holidays and closures, and which entity uses which."""
