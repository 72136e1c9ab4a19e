"""The chaos run of bench/chaos.py, two minutes of it with six kiosks (issue 16): dropped
responses, 503s, stalls, kiosk host processes killed with SIGKILL, a server restart and a
PostgreSQL restart (its own private cluster) while citizens keep submitting. Afterwards every
submission is in feedback_db exactly once, every low rating and complaint has exactly one
ticket, each month's ticket numbers are 1..N with the counter at N, and every outbox is empty.

The seed is random and printed in every failure message; `python -m bench.chaos --seed N
--minutes 2 --kiosks 6` replays the same schedule (the timing of a run never repeats exactly).
Nothing here asserts on time: the recovery times are in the report, for people to read.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench import chaos

MINUTES = 2.0
KIOSKS = 6

pytestmark = pytest.mark.slow


def test_chaos_run_loses_nothing_duplicates_nothing_and_numbers_tickets_without_gaps(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(2**32)
    lines: list[str] = []
    try:
        result = chaos.run(seed, minutes=MINUTES, kiosks=KIOSKS, root=tmp_path, out=lines.append)
    except Exception as exc:  # a run that raises before its report still names its seed
        raise AssertionError(f"the chaos run raised; replay it: python -m bench.chaos --seed {seed}") from exc
    text = "\n".join([*lines, *chaos.report(result)])

    assert result.kinds >= set(chaos.KINDS), text
    assert [f.kind for f in result.faults].count("server_restart") == 1, text
    assert [f.kind for f in result.faults].count("pg_restart") == 1, text
    assert all(f.ended is not None for f in result.faults), text
    assert result.drained, text
    assert result.hosts_quit_cleanly, text

    accounting = result.accounting
    assert accounting.queued > 0, text
    assert accounting.expected_tickets > 0, text
    assert accounting.promised <= accounting.queued, text
    assert accounting.lost == [], text
    assert accounting.duplicated == [], text
    assert accounting.unexpected == [], text
    assert accounting.stored == accounting.queued, text
    assert accounting.ticket_problems == [], text
    assert accounting.tickets == accounting.expected_tickets, text
    assert accounting.number_problems == [], text
    assert sum(accounting.months.values()) == accounting.tickets, text
    assert accounting.outbox_problems == [], text
    assert result.kiosk_errors == 0, text
    # Every item the server created in an answer the kiosk never got was sent again and
    # answered `duplicate` (kills add more).
    assert result.duplicates_answered >= result.created_unanswered, text
