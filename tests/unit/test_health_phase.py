"""What the staff panel says the sync is doing, from the worker or from the stored health."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk import health

ENROLLED = {"device_code": "K0007", "token_present": True}
SINCE = "2026-11-22T09:00:00+00:00"
SYNCED_ONCE = {**ENROLLED, "authorized": True, "last_success_at": SINCE}


@pytest.mark.parametrize(
    ("report", "live", "problem", "expected"),
    [
        # Not enrolled, or enrolled but its token file is gone: whatever else is stored.
        ({"device_code": None, "authorized": True, "last_success_at": SINCE}, None, None, "not_enrolled"),
        ({**ENROLLED, "token_present": False, "authorized": False}, None, None, "not_enrolled"),
        # Enrolled, but no worker can start (a CA bundle that is not PEM).
        ({**ENROLLED, "authorized": True}, None, "bad CA bundle", "cannot_sync"),
        # The running worker speaks first: it is newer than anything stored.
        ({**ENROLLED, "authorized": False, "offline_since": SINCE}, "syncing", None, "syncing"),
        ({**ENROLLED, "authorized": True, "offline_since": SINCE}, "idle", None, "connecting"),
        (SYNCED_ONCE, "offline", None, "offline"),
        (SYNCED_ONCE, "not_authorized", None, "not_authorized"),
        (SYNCED_ONCE, "idle", None, "online"),
        # Without one (another process syncs, or none does), the stored health.
        ({**ENROLLED, "authorized": False, "offline_since": None}, None, None, "not_authorized"),
        ({**ENROLLED, "authorized": True, "offline_since": SINCE}, None, None, "offline"),
        (SYNCED_ONCE, None, None, "online"),
        ({**ENROLLED, "authorized": True}, None, None, "connecting"),
    ],
)
def test_the_running_worker_speaks_first_then_the_stored_health(
    report: dict[str, Any], live: str | None, problem: str | None, expected: str
) -> None:
    assert expected in health.PHASES
    assert health.phase(report, live, problem) == expected


def test_waiting_is_everything_not_yet_delivered() -> None:
    counts = {"open": 1, "pending": 20, "sending": 100, "synced": 5_000, "rejected": 3}
    assert health.waiting(counts) == 121
    assert health.waiting({}) == 0


@pytest.mark.parametrize("live", ["idle", "syncing"])
def test_a_worker_with_no_answer_yet_is_connecting_whatever_was_stored(live: str) -> None:
    """Just started, or just re-authorized: what an earlier run stored is no news until the
    server has answered this worker."""
    assert health.phase(SYNCED_ONCE, live, answered=False) == "connecting"
    refused = {**SYNCED_ONCE, "authorized": False}
    assert health.phase(refused, "not_authorized", answered=False) == "not_authorized"
    assert health.phase(SYNCED_ONCE, "offline", answered=False) == "offline"
