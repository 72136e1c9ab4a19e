"""Status look-ups that cannot be mined (issue 15, ARCHITECTURE 5 "Status" and 6).

A kiosk's reference code is its device code (K0001, K0002 ...: few, and printed on every
receipt), a sequence that counts up, and four random Crockford characters: 20 bits, 1,048,576
values. Someone who guesses the tail finds a submission every 524,288 guesses on average, so
the public look-ups (`GET /api/v1/status/{code}`, `GET /s/{code}` and the two "not resolved"
posts, whose 404 and 409 tell a known code from an unknown one just as well) are limited:

- **The rule.** Per client address (`api/client.py`: IPv4 as it is, IPv6 by its /64), at
  most MAX_MISSES (30) misses (answers "no such reference") within WINDOW (10 minutes). Once
  an address has had them, each look-up from it is refused as throttled, without the code
  being looked up at all, until the oldest of those misses leaves the window: the answer is
  the same for a known code and an unknown one, and `retry_after_s` is the wait in whole
  seconds (at least 1). An address can thus make 4,320 guesses a day: about 121 days per hit
  (docs/decisions.md has the numbers).
- **What is recorded.** Each miss is a row of the security log `submission_attempts`
  (attempt_type ATTEMPT_TYPE, success false, the raw address: kept 7 days, and the one place
  an address is kept). The code guessed is not stored. Hits are not recorded: they do not
  count, and a log of who looked at a real reference would only be more personal data.
  Throttled answers are not recorded either, so a phone that keeps polling the page does not
  keep its network shut out: the throttle lifts at most 10 minutes after the last miss
  counted, whatever the address asks meanwhile; those requests learn nothing, since nothing
  was looked up for them.
- **Kiosks are not limited.** A request with a valid device token (an office's kiosks share
  one NAT address with every phone in the waiting room) is admitted without a lock or a count
  and its misses are not recorded; an invalid or revoked token counts as no token. The routes
  decide which it is (`Looker`).
- **Concurrency.** `admit` takes a transaction-scoped advisory lock on the address before
  counting, and the caller looks the code up and records a miss in the same transaction, so
  requests from one address are admitted one at a time and 40 at once give exactly 30 misses
  and 10 refusals. Counting first and locking only to record would not do: every request of a
  burst would pass the count and look its code up, and the status of its answer (a hit, or
  whatever a miss got) would tell the guess's result. The lock is held for the look-up's few
  indexed reads; end the transaction promptly after it.

The count reads at most MAX_MISSES rows, newest first: with migration 0006's index on
(attempt_type, ip_address, created_at) a short backward range scan; without it a scan of the
(7-day) table, still correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from psycopg import AsyncConnection

ATTEMPT_TYPE: Final = "status_lookup"
MAX_MISSES: Final = 30
WINDOW_MINUTES: Final = 10
WINDOW: Final = timedelta(minutes=WINDOW_MINUTES)
MISS_CODE: Final = "unknown_reference_code"  # the security log's error_message for a miss

# The lock's key: one bigint per address, apart from other per-address locks ('gea-public:').
# Two addresses whose keys collide only wait for each other; their counts stay apart.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('gea-status:' || %s, 0))"

# The MAX_MISSES-th newest miss still in the window, if there is one: the address is throttled
# until it leaves the window. A statement of its own, after the lock's: under READ COMMITTED it
# then sees every miss the previous holder of the lock committed.
_NTH_NEWEST_MISS = """
SELECT greatest(1, ceil(extract(epoch FROM created_at + %(window)s - now())))::int
FROM submission_attempts
WHERE attempt_type = %(type)s AND ip_address = %(address)s AND success IS FALSE
  AND created_at > now() - %(window)s
ORDER BY created_at DESC
OFFSET %(offset)s LIMIT 1
"""

_RECORD = (
    "INSERT INTO submission_attempts (ip_address, attempt_type, success, error_message) "
    "VALUES (%s, %s, FALSE, %s)"
)


class Throttled(Exception):
    """The address has had its misses: nothing was looked up; wait `retry_after_s` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"status look-ups throttled for {retry_after_s} s")
        self.retry_after_s = retry_after_s


async def admit(conn: AsyncConnection[Any], address: str) -> None:
    """Let one look-up from `address` go ahead, or raise Throttled.

    Takes the address's advisory lock until the transaction ends (commit or rollback), so the
    look-up and its `record_miss` must follow in the same transaction. Never commits."""
    key = address[:45]
    await conn.execute(_LOCK, (key,))
    cursor = await conn.execute(
        _NTH_NEWEST_MISS,
        {"window": WINDOW, "type": ATTEMPT_TYPE, "address": key, "offset": MAX_MISSES - 1},
    )
    row = await cursor.fetchone()
    if row is not None:
        raise Throttled(int(row[0]))


async def record_miss(conn: AsyncConnection[Any], address: str) -> None:
    """Count a look-up of an unknown reference against `address` (in the transaction `admit`
    began). Never commits."""
    await conn.execute(_RECORD, (address[:45], ATTEMPT_TYPE, MISS_CODE))


@dataclass(frozen=True)
class Looker:
    """Who is looking a reference code up: a client address, or None for a kiosk with a valid
    device token, which is neither limited nor counted."""

    address: str | None

    async def admit(self, conn: AsyncConnection[Any]) -> None:
        """`admit` for an address; nothing for a kiosk."""
        if self.address is not None:
            await admit(conn, self.address)

    async def missed(self, conn: AsyncConnection[Any]) -> None:
        """`record_miss` for an address; nothing for a kiosk."""
        if self.address is not None:
            await record_miss(conn, self.address)
