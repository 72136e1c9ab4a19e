"""What the staff panel says the sync is doing, from the worker or from the stored health."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk import health


@pytest.mark.parametrize(
    ("report", "live", "expected"),
    [
        ({"authorized": False, "offline_since": "2026-11-22T09:00:00+00:00"}, "syncing", "syncing"),
        ({"authorized": False, "offline_since": None}, None, "not_authorized"),
        ({"authorized": True, "offline_since": "2026-11-22T09:00:00+00:00"}, None, "offline"),
        ({"authorized": True, "offline_since": None}, None, None),
    ],
)
def test_the_running_worker_speaks_first_then_the_stored_health(
    report: dict[str, Any], live: str | None, expected: str | None
) -> None:
    assert health.phase(report, live) == expected


def test_waiting_is_everything_not_yet_delivered() -> None:
    counts = {"open": 1, "pending": 20, "sending": 100, "synced": 5_000, "rejected": 3}
    assert health.waiting(counts) == 121
    assert health.waiting({}) == 0
