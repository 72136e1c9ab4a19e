"""The desk's dashboard at /desk/dashboard: the five reporting views for the officer's scope
(services/desk_dashboard.py), as tables and charts drawn on the server as inline SVG.

No chart library and no script: the geometry is worked out here and the templates
(_chart_bars.html, _chart_days.html) draw it. Every chart is an image with a summary for its
name (role="img", aria-label and title), and its table, right below, is the accessible version
with every number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from server_sync_api.api.deps import Connection
from server_sync_api.desk import pages
from server_sync_api.desk.auth import Settings, SignedIn
from server_sync_api.services import desk_dashboard
from server_sync_api.services.desk_dashboard import DayStats, EntityQueue, ServiceRating

router = APIRouter(prefix="/desk", include_in_schema=False)

# Chart geometry, in the SVG's own units (the image scales to the page's width).
WIDTH = 720
LABEL_WIDTH = 250  # names at the left of a horizontal chart, right-aligned
PLOT_WIDTH = 390  # leaves room for the value after the longest bar
AXIS_HEIGHT = 28  # tick labels under a chart
TOP = 8
LABEL_CHARS = 34  # longer names are cut with an ellipsis (the table has them whole)


@dataclass(frozen=True)
class Bar:
    css: str  # the series' class: its colour
    x: float
    y: float
    width: float
    height: float
    text: str  # the value, written after the bar
    text_x: float
    text_y: float


@dataclass(frozen=True)
class BarRow:
    label: str
    label_y: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row per item and one bar per series."""

    width: float
    height: float
    plot_left: float
    plot_top: float
    plot_bottom: float
    rows: tuple[BarRow, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DayChart:
    """Columns over the days of the window: the share of tickets resolved within SLA."""

    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    columns: tuple[Column, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def number(value: Decimal | float | int | None, places: int = 2) -> str:
    """A number as the tables show it: fixed places, nothing for no value."""
    if value is None:
        return ""
    return f"{value:.{places}f}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def count_ticks(top: float) -> list[float]:
    """Round ticks from 0 to `top` (a nice_ceiling): whole numbers up to 5, else four or five
    steps (20 by 5s, 50 by 10s, 100 by 20s)."""
    if top <= 5:
        return [float(i) for i in range(int(top) + 1)]
    steps = 4 if str(int(top))[0] == "2" else 5
    return [top * i / steps for i in range(steps + 1)]


def bar_chart(
    items: Sequence[tuple[str, Sequence[float | None]]],
    *,
    classes: Sequence[str],
    scale_max: float,
    ticks: Sequence[float],
    value_text: Callable[[float], str],
) -> BarChart:
    """Rows of bars: `items` are (label, one value per series); None draws no bar."""
    series = len(classes)
    bar_height = 16 if series == 1 else 11
    row_height = bar_height * series + 10
    plot_top = TOP
    plot_bottom = plot_top + row_height * max(len(items), 1)
    rows = []
    for index, (label, values) in enumerate(items):
        row_top = plot_top + index * row_height + 5
        bars = []
        for which, value in enumerate(values):
            if value is None:
                continue
            y = row_top + which * bar_height
            width = PLOT_WIDTH * min(max(value, 0) / scale_max, 1)
            bars.append(
                Bar(
                    css=classes[which],
                    x=LABEL_WIDTH,
                    y=y,
                    width=round(width, 1),
                    height=bar_height - 1,
                    text=value_text(value),
                    text_x=round(LABEL_WIDTH + width + 5, 1),
                    text_y=y + bar_height - 4,
                )
            )
        rows.append(BarRow(short(label), row_top + bar_height * series / 2, tuple(bars)))
    return BarChart(
        width=WIDTH,
        height=plot_bottom + AXIS_HEIGHT,
        plot_left=LABEL_WIDTH,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        rows=tuple(rows),
        ticks=tuple(
            Tick(round(LABEL_WIDTH + PLOT_WIDTH * t / scale_max, 1), value_text(t).removesuffix(".00"))
            for t in ticks
        ),
    )


def satisfaction_chart(services: Sequence[ServiceRating]) -> BarChart:
    """Average rating per service on the 1-5 scale; a service with no rating has no bar."""
    return bar_chart(
        [(s.service_name, [None if s.avg_rating is None else float(s.avg_rating)]) for s in services],
        classes=["bar-rating"],
        scale_max=5,
        ticks=[0, 1, 2, 3, 4, 5],
        value_text=lambda v: f"{v:.2f}",
    )


def queue_chart(queues: Sequence[EntityQueue]) -> BarChart:
    """Open tickets and SLA breaches recorded against them, per entity."""
    top = nice_ceiling(max((max(q.total_open_tickets, q.sla_breach_count) for q in queues), default=1))
    return bar_chart(
        [(q.entity_name, [q.total_open_tickets, q.sla_breach_count]) for q in queues],
        classes=["bar-open", "bar-breach"],
        scale_max=top,
        ticks=count_ticks(top),
        value_text=lambda v: f"{v:.0f}",
    )


def sla_chart(days: Sequence[DayStats]) -> DayChart:
    """One column per day: the % resolved within SLA; no column on a day nothing was resolved,
    a sliver for 0 % so that a day of nothing in time still shows."""
    left, right, top, bottom = 48.0, float(WIDTH - 8), 10.0, 190.0
    slot = (right - left) / max(len(days), 1)
    columns = []
    x_ticks = []
    for index, day in enumerate(days):
        x = left + index * slot
        if day.sla_compliance_rate is not None:
            height = max((bottom - top) * float(day.sla_compliance_rate) / 100, 2)
            columns.append(
                Column(
                    round(x + slot * 0.15, 1),
                    round(bottom - height, 1),
                    round(slot * 0.7, 1),
                    round(height, 1),
                )
            )
        if (len(days) - 1 - index) % 7 == 0:  # weekly, back from the last day
            x_ticks.append(Tick(round(x + slot / 2, 1), f"{day.day:%d/%m}"))
    return DayChart(
        width=WIDTH,
        height=bottom + AXIS_HEIGHT,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        columns=tuple(columns),
        y_ticks=tuple(Tick(bottom - (bottom - top) * p / 100, f"{p}%") for p in (0, 25, 50, 75, 100)),
        x_ticks=tuple(x_ticks),
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request, settings: Settings, session: SignedIn, conn: Connection
) -> Response:
    dash = await desk_dashboard.dashboard(conn, session.officer)
    await conn.commit()
    # Best first, as the service orders them.
    rated = [s for s in dash.services if s.avg_rating is not None]
    return pages.render(
        request,
        settings,
        "dashboard.html",
        {
            "officer": session.officer,
            "dash": dash,
            "rated": rated,
            "satisfaction": satisfaction_chart(dash.services),
            "sla": sla_chart(dash.days),
            "queue": queue_chart(dash.queues),
            "number": number,
        },
        officer_language=session.officer.language,
    )
