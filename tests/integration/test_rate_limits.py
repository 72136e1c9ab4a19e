"""Rate limit and CAPTCHA (seed 5.4 and 7.1, ARCHITECTURE 4.9 and 4.10).

Each accepted public submission (channel portal or qr_code, with an ip_hash) records one
submission_rate_limit row. Over a rolling hour: 0-1 accepted -> free, 2-4 -> CAPTCHA, 5+ ->
refused. check_rate_limit and requires_captcha only read.

Tests that place rows relative to now() run inside one transaction, where now() is fixed, so
"59 minutes ago" is exactly that when the functions look.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.helpers.feedback import insert_feedback

Conn = psycopg.Connection[tuple[Any, ...]]

IP_A = hashlib.sha256(b"198.51.100.7").hexdigest()
IP_B = hashlib.sha256(b"203.0.113.42").hexdigest()


def _now(conn: Conn) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    now: datetime = row[0]
    return now


def _submit(conn: Conn, ip_hash: str | None, *, at: datetime | None = None, channel: str = "portal") -> int:
    """An accepted public submission from `ip_hash` (created_at = `at`, else now())."""
    columns: dict[str, object] = {"channel": channel, "ip_hash": ip_hash, "rating": 4}
    if at is not None:
        columns["created_at"] = at
    return insert_feedback(conn, **columns)


def _state(conn: Conn, ip_hash: str) -> tuple[bool, bool]:
    """(may submit, needs CAPTCHA) for the address, with the functions' defaults."""
    row = conn.execute("SELECT check_rate_limit(%s), requires_captcha(%s)", (ip_hash, ip_hash)).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])


def _rate_rows(conn: Conn, ip_hash: str | None = None) -> int:
    row = conn.execute(
        "SELECT count(*) FROM submission_rate_limit WHERE %s::text IS NULL OR ip_hash = %s",
        (ip_hash, ip_hash),
    ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


FREE = (True, False)
CAPTCHA = (True, True)
REFUSED = (False, True)


def test_state_after_each_of_six_accepted_submissions_in_an_hour(conn: Conn) -> None:
    observed = [_state(conn, IP_A)]
    for _ in range(6):
        _submit(conn, IP_A)
        observed.append(_state(conn, IP_A))
    assert observed == [
        FREE,  # nothing yet
        FREE,  # after the 1st
        CAPTCHA,  # after the 2nd: CAPTCHA from here on
        CAPTCHA,  # 3rd
        CAPTCHA,  # 4th
        REFUSED,  # 5th: refused from here on
        REFUSED,  # 6th
    ]


def test_explicit_arguments_move_the_thresholds(conn: Conn) -> None:
    for _ in range(3):
        _submit(conn, IP_A)
    row = conn.execute(
        "SELECT check_rate_limit(%(ip)s, 3, 1), check_rate_limit(%(ip)s, 4, 1),"
        " requires_captcha(%(ip)s, 3), requires_captcha(%(ip)s, 4)",
        {"ip": IP_A},
    ).fetchone()
    assert row == (False, True, True, False)


def test_each_accepted_submission_records_one_row_starting_at_its_created_at(conn: Conn) -> None:
    with conn.transaction():
        at = _now(conn) - timedelta(minutes=20)
        feedback_id = _submit(conn, IP_A, at=at)
        rows = conn.execute(
            "SELECT ip_hash, submission_count, window_start, window_end FROM submission_rate_limit"
        ).fetchall()
        created = conn.execute(
            "SELECT created_at FROM service_feedback WHERE feedback_id = %s", (feedback_id,)
        ).fetchone()
    assert created == (at,)
    assert rows == [(IP_A, 1, at, at + timedelta(hours=1))]


def test_two_interleaved_addresses_are_counted_separately(conn: Conn) -> None:
    observed: list[tuple[tuple[bool, bool], tuple[bool, bool]]] = []
    for ip in (IP_A, IP_B, IP_A, IP_B, IP_A, IP_A, IP_A, IP_B):
        _submit(conn, ip)
        observed.append((_state(conn, IP_A), _state(conn, IP_B)))
    assert observed == [
        (FREE, FREE),  # A1
        (FREE, FREE),  # B1
        (CAPTCHA, FREE),  # A2
        (CAPTCHA, CAPTCHA),  # B2
        (CAPTCHA, CAPTCHA),  # A3
        (CAPTCHA, CAPTCHA),  # A4
        (REFUSED, CAPTCHA),  # A5: A refused, B untouched
        (REFUSED, CAPTCHA),  # B3
    ]
    assert (_rate_rows(conn, IP_A), _rate_rows(conn, IP_B)) == (5, 3)


def test_submissions_61_minutes_old_are_not_counted(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)
        for _ in range(5):
            _submit(conn, IP_A, at=now - timedelta(minutes=61))
        assert _state(conn, IP_A) == FREE
        # The rows are there: a two-hour window sees all five.
        row = conn.execute("SELECT check_rate_limit(%s, 5, 2)", (IP_A,)).fetchone()
        assert row == (False,)


def test_submission_exactly_an_hour_old_is_out_of_the_window(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)
        _submit(conn, IP_A, at=now - timedelta(hours=1))
        _submit(conn, IP_A, at=now - timedelta(minutes=59, seconds=59))
        assert _state(conn, IP_A) == FREE


def test_submissions_59_minutes_old_are_counted(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)
        _submit(conn, IP_A, at=now - timedelta(minutes=59))
        assert _state(conn, IP_A) == FREE
        _submit(conn, IP_A, at=now - timedelta(minutes=59))
        assert _state(conn, IP_A) == CAPTCHA
        for _ in range(3):
            _submit(conn, IP_A, at=now - timedelta(minutes=59))
        assert _state(conn, IP_A) == REFUSED


def test_old_and_recent_submissions_mix_in_the_rolling_hour(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)
        for minutes in (61, 90, 120, 59, 30, 1):
            _submit(conn, IP_A, at=now - timedelta(minutes=minutes))
        # Three within the hour (59, 30, 1 minutes): CAPTCHA, not refused.
        assert _state(conn, IP_A) == CAPTCHA
        _submit(conn, IP_A, at=now)
        _submit(conn, IP_A, at=now)
        assert _state(conn, IP_A) == REFUSED


@pytest.mark.parametrize("channel", ["kiosk", "walk_in", "api"])
def test_non_public_channels_record_nothing(conn: Conn, channel: str) -> None:
    for _ in range(6):
        _submit(conn, IP_A, channel=channel)
    assert _rate_rows(conn) == 0
    assert _state(conn, IP_A) == FREE


@pytest.mark.parametrize("channel", ["portal", "qr_code"])
def test_public_channels_without_ip_hash_record_nothing(conn: Conn, channel: str) -> None:
    for _ in range(3):
        _submit(conn, None, channel=channel)
    assert _rate_rows(conn) == 0


@pytest.mark.parametrize("channel", ["portal", "qr_code"])
def test_public_channels_with_ip_hash_record_one_row_each(conn: Conn, channel: str) -> None:
    for _ in range(3):
        _submit(conn, IP_A, channel=channel)
    assert _rate_rows(conn, IP_A) == 3


def test_rolled_back_submission_is_not_counted(conn: Conn) -> None:
    _submit(conn, IP_A)
    with conn.transaction(force_rollback=True):
        _submit(conn, IP_A)
        assert _rate_rows(conn, IP_A) == 2
    assert _rate_rows(conn, IP_A) == 1
    assert _state(conn, IP_A) == FREE


def test_check_functions_only_read(conn: Conn) -> None:
    for _ in range(4):
        _submit(conn, IP_A)
    conn.execute("INSERT INTO captcha_challenges (ip_hash, challenge_code) VALUES (%s, 'C-1')", (IP_A,))
    snapshot_sql = (
        "SELECT (SELECT array_agg(r ORDER BY rate_limit_id)::text FROM submission_rate_limit r),"
        " (SELECT array_agg(c ORDER BY challenge_id)::text FROM captcha_challenges c)"
    )
    before = conn.execute(snapshot_sql).fetchone()
    for _ in range(10):
        assert _state(conn, IP_A) == CAPTCHA  # four accepted: repeated checks never reach five
        assert _state(conn, IP_B) == FREE
    assert conn.execute(snapshot_sql).fetchone() == before
    volatility = conn.execute(
        "SELECT proname, provolatile FROM pg_proc"
        " WHERE proname IN ('check_rate_limit', 'requires_captcha') ORDER BY proname"
    ).fetchall()
    # Not VOLATILE: PostgreSQL itself refuses data changes in a STABLE function.
    assert volatility == [("check_rate_limit", "s"), ("requires_captcha", "s")]


# ---------------------------------------------------------------------------------------
# validate_captcha
# ---------------------------------------------------------------------------------------


def _challenge(conn: Conn, ip_hash: str, code: str, *, expires_at: datetime | None = None) -> None:
    if expires_at is None:
        conn.execute(
            "INSERT INTO captcha_challenges (ip_hash, challenge_code) VALUES (%s, %s)", (ip_hash, code)
        )
    else:
        conn.execute(
            "INSERT INTO captcha_challenges (ip_hash, challenge_code, expires_at) VALUES (%s, %s, %s)",
            (ip_hash, code, expires_at),
        )


def _validate(conn: Conn, ip_hash: str, code: str) -> bool:
    row = conn.execute("SELECT validate_captcha(%s, %s)", (ip_hash, code)).fetchone()
    assert row is not None
    return bool(row[0])


def test_validate_captcha_accepts_right_address_and_code_once(conn: Conn) -> None:
    _challenge(conn, IP_A, "7QX2M")
    assert _validate(conn, IP_A, "7QX2M") is True
    assert conn.execute("SELECT is_solved FROM captcha_challenges").fetchone() == (True,)
    assert _validate(conn, IP_A, "7QX2M") is False


def test_validate_captcha_refuses_another_address_and_leaves_challenge_usable(conn: Conn) -> None:
    _challenge(conn, IP_A, "7QX2M")
    assert _validate(conn, IP_B, "7QX2M") is False
    assert conn.execute("SELECT is_solved FROM captcha_challenges").fetchone() == (False,)
    assert _validate(conn, IP_A, "7QX2M") is True


def test_validate_captcha_refuses_expired_challenge(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)
        _challenge(conn, IP_A, "OLD1", expires_at=now - timedelta(seconds=1))
        _challenge(conn, IP_A, "EDGE", expires_at=now)
        _challenge(conn, IP_A, "LIVE", expires_at=now + timedelta(seconds=1))
        assert _validate(conn, IP_A, "OLD1") is False
        assert _validate(conn, IP_A, "EDGE") is False
        assert _validate(conn, IP_A, "LIVE") is True
    solved = conn.execute("SELECT challenge_code FROM captcha_challenges WHERE is_solved").fetchall()
    assert solved == [("LIVE",)]


def test_validate_captcha_refuses_unknown_code(conn: Conn) -> None:
    _challenge(conn, IP_A, "7QX2M")
    assert _validate(conn, IP_A, "7QX2N") is False
    assert _validate(conn, IP_A, "") is False
    assert conn.execute("SELECT is_solved FROM captcha_challenges").fetchone() == (False,)


def test_captcha_challenge_expires_30_minutes_after_creation_by_default(conn: Conn) -> None:
    row = conn.execute(
        "INSERT INTO captcha_challenges (ip_hash, challenge_code) VALUES (%s, 'C-1')"
        " RETURNING expires_at - created_at, is_solved",
        (IP_A,),
    ).fetchone()
    assert row == (timedelta(minutes=30), False)
