"""Working hours as IT types them for `gea-server calendars add --hours` and `set-hours`."""

from __future__ import annotations

import pytest

from server_sync_api.services.working_hours import (
    DEFAULT_HOURS,
    MIN_WEEKLY_MINUTES,
    HoursError,
    Span,
    describe,
    duration,
    parse_specs,
    weekly_minutes,
)

NINE_TO_FIVE = Span(9 * 60, 17 * 60)


@pytest.mark.parametrize(
    "words",
    [
        ["mon-fri 09:00-17:00", "sat 09:00-12:00", "sun closed"],  # quoted, one spec each
        ["mon-fri", "09:00-17:00", "sat", "09:00-12:00", "sun", "closed"],  # unquoted
        ["mon - fri 09:00 - 17:00; sat 9:00-12:00; Sun CLOSED"],  # as a person writes prose
        ["Monday-Friday 09:00-17:00 saturday 09:00-12:00 sunday closed"],
        ["mon,tue,wed-fri 09:00-17:00 sat 09:00-12:00 sun closed"],
    ],
)
def test_the_ways_of_writing_a_week_read_the_same(words: list[str]) -> None:
    assert parse_specs(words) == {
        1: NINE_TO_FIVE,
        2: NINE_TO_FIVE,
        3: NINE_TO_FIVE,
        4: NINE_TO_FIVE,
        5: NINE_TO_FIVE,
        6: Span(9 * 60, 12 * 60),
        7: None,
    }


def test_only_the_days_named_are_in_the_result() -> None:
    assert parse_specs(["sat sun 10:00-14:00"]) == {6: Span(600, 840), 7: Span(600, 840)}


def test_a_day_worked_to_midnight_ends_at_24_00() -> None:
    week = parse_specs(["mon-sun 00:00-24:00"])

    assert week[7] == Span(0, 24 * 60)
    assert describe({d: s for d, s in week.items() if s}) == "Mon-Sun 00:00-24:00"


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["fri-mon 08:00-16:00"], "runs backwards"),
        (["mo 08:00-16:00"], "'mo' is not a day"),
        (["funday 08:00-16:00"], "'funday' is not a day"),
        (["mon 8-16"], "'8' is not a time"),
        (["mon 08:00"], "is not a day's hours"),
        (["mon 08:60-16:00"], "not a time of day"),
        (["mon 08:00-25:00"], "not a time of day"),
        (["mon 08:00-24:30"], "not a time of day"),
        (["mon 16:00-08:00"], "closes before it opens"),
        (["mon 08:00-08:00"], "closes before it opens"),
        (["mon 24:00-24:00"], "cannot open at 24:00"),
        (["mon-fri 08:00-16:00", "fri closed"], "fri is given twice"),
        (["08:00-16:00"], "say which days first"),
        (["mon-fri"], "give its hours"),
        (["mon,,tue 08:00-16:00"], "empty day"),
        ([""], "no hours given"),
    ],
)
def test_a_wrong_spec_is_refused_saying_what_is_wrong(words: list[str], says: str) -> None:
    with pytest.raises(HoursError, match=says):
        parse_specs(words)


def test_describe_joins_consecutive_days_alike() -> None:
    week = {1: NINE_TO_FIVE, 2: NINE_TO_FIVE, 3: Span(9 * 60, 13 * 60), 4: NINE_TO_FIVE, 6: NINE_TO_FIVE}

    assert describe(week) == (
        "Mon-Tue 09:00-17:00, Wed 09:00-13:00, Thu 09:00-17:00, Fri closed, Sat 09:00-17:00, Sun closed"
    )


def test_the_default_is_grenadas_public_service_week() -> None:
    assert describe(DEFAULT_HOURS) == "Mon-Fri 08:00-16:00, Sat-Sun closed"
    assert weekly_minutes(DEFAULT_HOURS) == 40 * 60


@pytest.mark.parametrize(
    ("minutes", "text"), [(2400, "40 h"), (90, "1 h 30 min"), (1, "1 min"), (238, "3 h 58 min"), (0, "0 h")]
)
def test_duration_reads_as_hours_and_minutes(minutes: int, text: str) -> None:
    assert duration(minutes) == text


def test_the_least_week_a_calendar_may_have_is_four_hours() -> None:
    assert MIN_WEEKLY_MINUTES == 4 * 60
    assert weekly_minutes(DEFAULT_HOURS) >= MIN_WEEKLY_MINUTES
