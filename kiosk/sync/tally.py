"""The outbox's counts as the sync worker reports them mid-drain, without a read per batch.

Observers get the outbox's counts by state after every batch, and every push reports the
queue it leaves (depth and oldest waiting row). Read from SQLite, both scan the whole
backlog (a count by state, and a count and min over every waiting row), so a drain of N
rows in batches of B paid N²/2B row visits for them: at 10,000 rows, about as much kiosk CPU
as claiming and settling. The worker knows every change it makes itself, so between two
reads it moves rows between states in memory as it claims, settles and puts back, and reads
the outbox again once the figures are `max_age_s` old, which catches what other processes
and threads did meanwhile (a citizen's new submission, a `gea-kiosk` command).

Used by the draining thread only (the worker holds its drain lock around it). What the worker
publishes when a drain ends is read from the outbox, not from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Final

from sqlalchemy import Engine

from kiosk.local_db import outbox
from kiosk.local_db.models import OutboxState

# The figures are read again from the outbox once they are this old (monotonic seconds).
MAX_AGE_S: Final = 1.0

QueueStatus = tuple[int, datetime | None]  # outbox.queue_status(): depth, oldest recorded_at


class QueueTally:
    def __init__(
        self, engine: Engine, max_age_s: float = MAX_AGE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._max_age_s = max_age_s
        self._clock = clock
        self._counts: dict[str, int] | None = None  # None: read at the next use
        self._oldest: datetime | None = None
        self._read_at = 0.0

    def forget(self) -> None:
        """Read the outbox at the next use (a drain begins: others changed it since)."""
        self._counts = None

    def moved(self, source: OutboxState, target: OutboxState, rows: int) -> None:
        """The worker moved `rows` rows from one state to another (already committed)."""
        if self._counts is None or rows <= 0:
            return  # the next read sees it
        if self._counts[source.value] < rows:
            # Rows another thread or process added since the last read (a citizen's tap just
            # before the claim): the figures are behind, so read them again.
            self._counts = None
            return
        self._counts[source.value] -= rows
        self._counts[target.value] += rows

    def counts(self) -> dict[str, int]:
        """Rows by state, as outbox.counts() gives them; at most max_age_s behind others' writes."""
        return dict(self._current(in_flight=()))

    def queue(self, in_flight: Collection[str]) -> QueueStatus:
        """What the next push reports: rows waiting (pending or sending) but those of the batch
        `in_flight`, whose answer settles them, and the oldest waiting row's time. That time
        is the one last read: during a drain it can name a row delivered since, for at most
        max_age_s."""
        counts = self._current(in_flight)
        waiting = counts[OutboxState.PENDING.value] + counts[OutboxState.SENDING.value]
        return max(waiting - len(in_flight), 0), self._oldest

    def _current(self, in_flight: Collection[str]) -> dict[str, int]:
        if self._counts is None or self._clock() - self._read_at >= self._max_age_s:
            self._counts = outbox.counts(self._engine)
            self._oldest = outbox.queue_status(self._engine, excluding=in_flight)[1]
            self._read_at = self._clock()
        return self._counts
