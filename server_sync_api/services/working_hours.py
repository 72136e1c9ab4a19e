"""Working hours as IT types them: `mon-fri 08:00-16:00`, `sat 09:00-12:00`, `sun closed`.

A calendar has at most one span of working hours per weekday (sla_calendar_hours); a day
without one is not worked. Times are minutes after midnight so that 24:00, which PostgreSQL's
TIME holds and Python's `datetime.time` cannot, needs no special case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# ISO weekdays: DAYS[0] is Monday (1), DAYS[6] Sunday (7).
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = 24 * 60
CLOSED = "closed"


class HoursError(ValueError):
    """A spec IT can fix; the message quotes the part that is wrong and shows the right form."""


@dataclass(frozen=True, order=True)
class Span:
    opens: int  # minutes after midnight, 0 .. 1439
    closes: int  # minutes after midnight, opens + 1 .. 1440 (24:00)

    def __post_init__(self) -> None:
        if not 0 <= self.opens < self.closes <= MIDNIGHT:
            raise HoursError(f"{self} is not a span of one day")

    def __str__(self) -> str:
        return f"{clock(self.opens)}-{clock(self.closes)}"

    @property
    def minutes(self) -> int:
        return self.closes - self.opens


# What `calendars add` and a calendar made by `load-holidays` get unless told otherwise:
# Grenada's public service works Monday to Friday, 08:00 to 16:00.
DEFAULT_HOURS: Mapping[int, Span] = {day: Span(8 * 60, 16 * 60) for day in range(1, 6)}
DEFAULT_HOURS_WHY = "Grenada's public-service day"
# The least working time a calendar may have a week. Deadlines count only working time, so a
# sparser week puts them absurdly far out (at one minute a week, 720 working hours take over
# 800 years); `calendars add` and `set-hours` refuse one.
MIN_WEEKLY_MINUTES = 4 * 60
EXAMPLES = "'mon-fri 08:00-16:00', 'sat 09:00-12:00', 'sun closed'"

_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_clock(text: str) -> int:
    """'08:00' -> 480; '24:00' -> 1440 (the end of a day worked to midnight)."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise HoursError(f"{text!r} is not a time: write it as HH:MM, e.g. 08:00 or 16:30")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise HoursError(f"{text!r} is not a time of day: use 00:00 to 23:59, or 24:00 for midnight")
    return hours * 60 + minutes


def parse_day(text: str) -> int:
    """'mon', 'Tue', 'thurs', 'friday' -> ISO weekday."""
    word = text.lower()
    # Three letters at least: 't' or 's' alone would be a guess between two days.
    matches = [i + 1 for i, day in enumerate(DAYS) if len(word) >= 3 and day.startswith(word)]
    if len(matches) != 1:
        raise HoursError(f"{text!r} is not a day: use mon, tue, wed, thu, fri, sat or sun")
    return matches[0]


def parse_days(text: str) -> list[int]:
    """'mon-fri', 'sat,sun', 'mon,wed-fri' -> ISO weekdays in order."""
    days: list[int] = []
    for part in text.split(","):
        if not part:
            raise HoursError(f"{text!r}: an empty day between commas")
        first, dash, last = part.partition("-")
        if not dash:
            days.append(parse_day(first))
            continue
        start, end = parse_day(first), parse_day(last)
        # A range that wraps past Sunday is refused rather than read: 'fri-mon' is more often
        # a slip for 'mon-fri' than a wish to work Friday to Monday.
        if start > end:
            raise HoursError(
                f"{part!r} runs backwards: the week runs mon to sun, so write e.g. "
                f"'{DAYS[end - 1][:3]}-{DAYS[start - 1][:3]}' or list the days, e.g. 'fri-sun,mon'"
            )
        days.extend(range(start, end + 1))
    return days


def parse_span(text: str) -> Span | None:
    """'08:00-16:00' -> a span; 'closed' -> None (the day is not worked)."""
    if text.lower() == CLOSED:
        return None
    opens_text, dash, closes_text = text.partition("-")
    if not dash:
        raise HoursError(f"{text!r} is not a day's hours: write them like 08:00-16:00, or 'closed'")
    try:
        opens, closes = parse_clock(opens_text), parse_clock(closes_text)
    except HoursError as exc:
        raise HoursError(f"{text!r}: {exc}") from None
    if opens == MIDNIGHT:
        raise HoursError(f"{text!r}: a day cannot open at 24:00; use 00:00")
    if closes <= opens:
        # One span a day (sla_calendar_hours): a night shift over midnight is two days' hours.
        raise HoursError(
            f"{text!r} closes before it opens: a day's hours must end later the same day "
            "(to midnight: 24:00; a shift past midnight is two days, e.g. 'mon 22:00-24:00' and "
            "'tue 00:00-06:00')"
        )
    return Span(opens, closes)


def _tokens(words: Iterable[str]) -> list[str]:
    # Accept the specs quoted ('mon-fri 08:00-16:00' 'sat closed') or not, with or without
    # spaces around '-' and ',', and separated by ';' as a person might write them in prose.
    text = " ".join(words).replace(";", " ")
    text = re.sub(r"\s*([-,])\s*", r"\1", text.strip())
    return text.split()


def _is_span(token: str) -> bool:
    return token.lower() == CLOSED or token[:1].isdigit()


def parse_specs(words: Sequence[str]) -> dict[int, Span | None]:
    """Specs like `mon-fri 08:00-16:00 sat 09:00-12:00 sun closed` -> weekday -> span or None.

    Only the days named are in the result; a day named twice is refused, whatever its hours.
    """
    result: dict[int, Span | None] = {}
    pending: list[tuple[str, list[int]]] = []
    for token in _tokens(words):
        if not _is_span(token):
            pending.append((token, parse_days(token)))
            continue
        if not pending:
            raise HoursError(f"{token!r}: say which days first, e.g. 'mon-fri {token}'")
        span = parse_span(token)
        for days_text, days in pending:
            for day in days:
                if day in result:
                    raise HoursError(f"{DAYS[day - 1][:3]} is given twice (again in {days_text!r})")
                result[day] = span
        pending = []
    if pending:
        named = " ".join(text for text, _ in pending)
        raise HoursError(f"{named!r}: give its hours (e.g. 08:00-16:00) or 'closed'")
    if not result:
        raise HoursError(f"no hours given: write them like {EXAMPLES}")
    return result


def describe(week: Mapping[int, Span]) -> str:
    """'Mon-Fri 08:00-16:00, Sat 09:00-12:00, Sun closed': consecutive days alike are joined."""
    runs: list[tuple[int, int, Span | None]] = []
    for day in range(1, 8):
        span = week.get(day)
        if runs and runs[-1][2] == span and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day, span)
        else:
            runs.append((day, day, span))
    parts = []
    for first, last, span in runs:
        days = DAYS[first - 1][:3].title()
        if last != first:
            days += "-" + DAYS[last - 1][:3].title()
        parts.append(f"{days} {span if span is not None else CLOSED}")
    return ", ".join(parts)


def weekly_minutes(week: Mapping[int, Span]) -> int:
    return sum(span.minutes for span in week.values())


def duration(minutes: int) -> str:
    """2400 -> '40 h'; 90 -> '1 h 30 min'; 1 -> '1 min'."""
    hours, rest = divmod(minutes, 60)
    if not rest:
        return f"{hours} h"
    return f"{hours} h {rest} min" if hours else f"{rest} min"
