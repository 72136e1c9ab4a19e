"""The sync worker: drains the outbox to the server, keeps the catalog fresh, sends heartbeats.

A plain `threading.Thread` (no Qt), run only by the process that holds the data directory's
lock (`kiosk.local_db.lock.acquire`), after that process has run `outbox.recover()`.

- Push: claim up to `batch_size` due `pending` rows (→ `sending`), POST them, settle each row
  by its own result (created/duplicate → `synced`, rejected → `rejected`, never retried); the
  claim and the settling are each one transaction of one or two statements for the batch.
  Two pushes are on their way at once (`pushes_in_flight`); answers are settled in claim order.
  Network error, timeout, 5xx, 429 → the batch goes back to `pending` with `next_attempt_at`
  after an exponential backoff with jitter (at least the server's Retry-After), and the
  worker stays away from the server until then (phase `offline`). 413 → the batch is split in
  halves, sent at once. 401/403 → the batch goes back to `pending` and the worker stops
  talking to the server (phase `not_authorized`) until `reauthorize()` or a restart.
- Heartbeat: an empty batch with the device's health when nothing was pushed for
  `heartbeat_interval_s`; every push carries the same device_status.
- Catalog: GET with the cached ETag every `catalog_refresh_s`, stored in `catalog_cache` (id 1).
- `wake()` (call it when a row becomes `pending`) runs a cycle at once; rows added by other
  processes are picked up within `idle_poll_s`.

Observers (`add_observer`) receive a `SyncState` after every change. They are called on the
worker thread (or on the thread calling `drain_once`/`reauthorize`), one at a time: keep them
quick and non-blocking; a UI must hand the state to its own thread (e.g. a queued signal).
Mid-drain, a state's counts are the worker's tally (kiosk.sync.tally: its own moves, and the
outbox read again each second), so rows other processes add show within a second; the state
published when a drain ends reads the outbox.

Backoff is computed by `backoff_delay` below, a small function rather than tenacity: the
worker's retries are not a blocking retry loop but state persisted per row (`next_attempt_at`)
and interrupted by `wake()`/`stop()`, which tenacity's call-wrapping shape does not fit; the
formula is tenacity's `wait_exponential_jitter` in ten lines, with no new dependency.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar, cast

from sqlalchemy import Engine

from kiosk import __version__
from kiosk.local_db import catalog_cache, outbox
from kiosk.local_db.models import OutboxState
from kiosk.local_db.outbox import Settlement, WireItem, utcnow
from kiosk.sync.client import SyncClient
from kiosk.sync.errors import BatchTooLarge, NotAuthorized, RetryLater, SyncError
from kiosk.sync.tally import QueueStatus, QueueTally

log = logging.getLogger("kiosk.sync")

T = TypeVar("T")
PRINTER_STATES: Final = frozenset({"ok", "error", "none"})
# Synced rows older than outbox.SYNCED_RETENTION are purged at most this often.
PURGE_INTERVAL_S: Final = 3600.0
# Exponent cap for the backoff: 2**62 seconds is far past any max, and a float stays finite.
MAX_BACKOFF_EXPONENT: Final = 62
# The worker's own retry timer fires this much after the backoff: a failed batch's
# next_attempt_at is set a few ms after the timer, and its rows must be due when it fires.
RETRY_TIMER_MARGIN_S: Final = 0.25


@dataclass(frozen=True)
class SyncSettings:
    """The worker's tunables, in seconds unless named otherwise."""

    batch_size: int = 250  # items per push; the server takes up to 500 and 2 MiB
    # Pushes a drain keeps on their way at once: while the server's database works on one
    # batch, its API reads the next (see _drain). 1: one after the other.
    pushes_in_flight: int = 2
    backoff_initial_s: float = 2.0  # wait after the first failure
    backoff_max_s: float = 300.0  # the doubling stops here (ARCHITECTURE 5: "capped, e.g. 5 min")
    backoff_jitter: float = 0.5  # each wait is cut by up to this fraction, so kiosks spread out
    retry_after_max_s: float = 3600.0  # a server's Retry-After is honoured up to this
    heartbeat_interval_s: float = 180.0  # an empty push when nothing was pushed for this long
    catalog_refresh_s: float = 900.0  # GET /catalog (with If-None-Match) this often
    idle_poll_s: float = 5.0  # look for rows added by other processes (the CLI) this often

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 500:
            raise ValueError("batch_size must be between 1 and 500 (the server's limit)")
        if self.pushes_in_flight < 1:
            raise ValueError("pushes_in_flight must be at least 1")
        if not 0 <= self.backoff_jitter < 1:
            raise ValueError("backoff_jitter must be at least 0 and below 1")
        for name in ("backoff_initial_s", "backoff_max_s", "heartbeat_interval_s", "catalog_refresh_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.idle_poll_s <= 0 or self.retry_after_max_s < 0:
            raise ValueError("idle_poll_s must be positive and retry_after_max_s not negative")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")


def backoff_delay(
    failures: int,
    settings: SyncSettings,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after `failures` consecutive failures (1 for the first).

    initial × 2^(failures−1), capped at backoff_max_s, then cut by a random fraction of up to
    backoff_jitter (so a room of kiosks that lost the network together does not come back in
    step). Never more than backoff_max_s, unless the server's Retry-After asks for more: that
    is honoured, up to retry_after_max_s.
    """
    exponent = min(max(failures, 1) - 1, MAX_BACKOFF_EXPONENT)
    base = min(settings.backoff_max_s, settings.backoff_initial_s * 2.0**exponent)
    fraction = rng.random() if rng is not None else random.random()
    delay = base * (1.0 - settings.backoff_jitter * fraction)
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), settings.retry_after_max_s))
    return delay


def split_batch(rows: Sequence[T]) -> tuple[list[T], list[T]] | None:
    """A batch the server found too large (413), in two halves in queue order; None when it is
    one item, which can never be sent (and is rejected locally instead)."""
    if len(rows) < 2:
        return None
    middle = (len(rows) + 1) // 2
    return list(rows[:middle]), list(rows[middle:])


def _failed(flight: _Flight) -> bool:
    """Whether a push has come back with an error already (without waiting for it)."""
    return flight.answer.done() and flight.answer.exception() is not None


def _gravest(failures: Sequence[BaseException]) -> BaseException:
    """The error a failed drain acts on: a refused token over anything else (waiting out a
    backoff would only be refused again), then the longest Retry-After the server asked for,
    then the first."""
    for failure in failures:
        if isinstance(failure, NotAuthorized):
            return failure
    waits = [f for f in failures if isinstance(f, RetryLater) and f.retry_after is not None]
    if waits:
        return max(waits, key=lambda f: f.retry_after or 0.0)
    return failures[0]


class Phase(enum.StrEnum):
    IDLE = "idle"  # nothing to send, or waiting for the next cycle
    SYNCING = "syncing"  # pushing batches now
    OFFLINE = "offline"  # the server is unreachable or failing; retrying after a backoff
    NOT_AUTHORIZED = "not_authorized"  # 401/403: stopped until re-enrolled


@dataclass(frozen=True)
class SyncState:
    """What observers (the staff screen, `gea-kiosk status`) see."""

    phase: Phase
    offline_since: datetime | None
    last_success_at: datetime | None  # the last push or heartbeat the server accepted
    counts: dict[str, int]  # outbox rows by state: open, pending, sending, synced, rejected
    last_error: str | None  # why the last exchange failed; None once one succeeds
    # When a new catalog was last stored (not a 304): screens reload what they offer.
    catalog_updated_at: datetime | None = None

    @property
    def authorized(self) -> bool:
        return self.phase is not Phase.NOT_AUTHORIZED

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, in the field names of `gea-kiosk status --json` (ARCHITECTURE 6)."""
        return {
            "phase": self.phase.value,
            "counts": dict(self.counts),
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "offline_since": self.offline_since.isoformat() if self.offline_since else None,
            "authorized": self.authorized,
            "last_error": self.last_error,
        }


@dataclass
class DrainReport:
    """What one drain did. `sent` counts items the server answered (synced + rejected)."""

    batches: int = 0  # push requests made, heartbeats excluded
    sent: int = 0
    synced: int = 0
    rejected: int = 0
    released: int = 0  # items put back to `pending` after a failed push
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.last_error is None


@dataclass
class _Status:
    """The worker's mutable state; guarded by SyncWorker._lock."""

    phase: Phase = Phase.IDLE
    offline_since: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    retry_at: float | None = None  # time.monotonic(); no network before it
    last_contact: float | None = None  # monotonic: last push or heartbeat that got a 200
    last_catalog: float | None = None  # monotonic: last catalog fetched (or refused as a whole)
    last_purge: float | None = None
    catalog_updated_at: datetime | None = None


@dataclass(frozen=True)
class _Flight:
    """A push on its way: the batch, the server's answer to come, and when it left."""

    rows: list[WireItem]
    answer: Future[list[dict[str, Any]]]
    started: float


class SyncWorker(threading.Thread):
    """Drains the outbox in the background; see the module docstring.

    A daemon thread: if the app exits without `stop()`, rows in flight stay `sending` and the
    next start-up's `outbox.recover()` sends them again (the server answers `duplicate`).
    """

    def __init__(
        self,
        engine: Engine,
        client: SyncClient,
        settings: SyncSettings | None = None,
        *,
        printer_state: Callable[[], str] | None = None,
        last_error: Callable[[], dict[str, str] | None] | None = None,
        version: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name="gea-kiosk-sync", daemon=True)
        self._engine = engine
        self._client = client
        self.settings = settings or SyncSettings()
        self._printer_state: Callable[[], str] = printer_state or (lambda: "none")
        self._last_error: Callable[[], dict[str, str] | None] = last_error or (lambda: None)
        self._version = (version or __version__)[:50]
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # guards _status
        self._status = _Status()
        self._drain_lock = threading.Lock()  # one push sequence at a time (thread or drain_once)
        self._publish_lock = threading.RLock()  # observers see states in order
        self._observers: list[Callable[[SyncState], None]] = []
        self._published: SyncState | None = None
        # The outbox's counts mid-drain, kept by the draining thread (see kiosk.sync.tally).
        self._tally = QueueTally(engine)
        self._woken = threading.Event()
        self._stopping = threading.Event()

    # --- the interface the app uses ------------------------------------------------------

    def add_observer(self, callback: Callable[[SyncState], None]) -> None:
        """Call `callback(state)` after every change, on the worker thread (see module doc)."""
        with self._publish_lock:
            self._observers.append(callback)

    def remove_observer(self, callback: Callable[[SyncState], None]) -> None:
        with self._publish_lock:
            self._observers.remove(callback)

    def set_printer_state(self, probe: Callable[[], str]) -> None:
        """How the heartbeat learns the printer's state: "ok", "error" or "none"."""
        self._printer_state = probe

    def set_last_error(self, probe: Callable[[], dict[str, str] | None]) -> None:
        """How the heartbeat learns the kiosk's last local error: {code, message} or None
        (kiosk.faults.FaultBoard.last_error)."""
        self._last_error = probe

    @property
    def state(self) -> SyncState:
        """The current state, with fresh counts from the outbox."""
        return self._snapshot(outbox.counts(self._engine))

    def wake(self) -> None:
        """Run a cycle now (a row just became `pending`). Safe from any thread. During a
        backoff the cycle sends nothing: the server was failing moments ago."""
        self._woken.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the requests on their way (bounded by the client's timeouts; their rows
        are settled, not abandoned) and join. True once the thread has ended."""
        self._stopping.set()
        self._woken.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        return not self.is_alive()

    def reauthorize(self, token: str | None = None) -> None:
        """Resume after `not_authorized`: the kiosk was re-enrolled (pass its new token)."""
        if token is not None:
            self._client.set_token(token)
        with self._lock:
            self._status.phase = Phase.IDLE
            self._status.failures = 0
            self._status.retry_at = None
            self._status.last_error = None
        self._publish()
        self.wake()

    def drain_once(self, ignore_backoff: bool = True) -> DrainReport:
        """Push everything due now, synchronously (`gea-kiosk sync --once`): with
        ignore_backoff, every pending row, whatever its next_attempt_at. If nothing was
        pushed, a heartbeat is sent, so the server learns the kiosk's health and the kiosk
        learns whether it is still authorized. A failure ends the drain: the report says
        why. Raises NotAuthorized (the rows are back to `pending`)."""
        report = DrainReport()
        with self._drain_lock:
            try:
                self._drain(report, ignore_backoff)
                if report.batches == 0:
                    self._heartbeat()
            except NotAuthorized:
                self._publish()
                raise
            except SyncError as exc:
                report.last_error = exc.message
        self._publish()
        return report

    def refresh_catalog(self) -> bool:
        """GET the catalog with the cached ETag and store it; True if it changed (False: 304).
        Raises SyncError like the client."""
        try:
            return self._refresh_catalog()
        finally:
            self._publish()

    def _refresh_catalog(self) -> bool:
        cached = catalog_cache.load(self._engine)
        try:
            fetched = self._client.catalog(cached.etag if cached else None)
        except (RetryLater, NotAuthorized) as exc:
            self._note_failure(exc)
            raise
        except SyncError as exc:
            # Refused as a whole (a server too old for this kiosk?): the cached catalog still
            # serves, and pushes must not wait for it; try again at the next refresh.
            with self._lock:
                self._status.last_error = exc.message
                self._status.last_catalog = time.monotonic()
            log.info("catalog: not fetched (%s)", _describe(exc))
            raise
        if fetched is None:
            catalog_cache.mark_current(self._engine)
            log.info("catalog: unchanged (304)")
        else:
            etag, body = fetched
            catalog_cache.store(self._engine, body, etag)
            with self._lock:
                self._status.catalog_updated_at = utcnow()
            log.info("catalog: updated, %d services", len(body.get("services", [])))
        # Only a fetch that worked counts: after a failure the backoff decides when to retry,
        # so a kiosk that starts offline gets its catalog as soon as the server is back.
        with self._lock:
            self._status.last_catalog = time.monotonic()
        self._note_contact(pushed=False)
        return fetched is not None

    def send_heartbeat(self) -> None:
        """An empty push with the device's health. Raises SyncError like the client."""
        with self._drain_lock:
            self._heartbeat()
        self._publish()

    # --- the thread ------------------------------------------------------------------------

    def run(self) -> None:
        log.info("sync worker started (server %s)", self._client.base_url)
        while not self._stopping.is_set():
            self._woken.clear()  # a wake() during the cycle makes the wait below return at once
            try:
                self._cycle()
            except SyncError:
                pass  # already recorded in the state and logged by the step that failed
            except Exception as exc:  # a bug or a disk error must not end syncing silently
                log.exception("sync cycle failed")
                with self._lock:
                    self._status.last_error = f"internal error: {type(exc).__name__}"
                    self._status.failures += 1
                    delay = backoff_delay(self._status.failures, self.settings, rng=self._rng)
                    self._status.retry_at = time.monotonic() + delay
            self._publish()
            self._woken.wait(self._seconds_to_next_cycle())
        log.info("sync worker stopped")

    def _cycle(self) -> None:
        self._housekeeping()
        with self._lock:
            status = replace(self._status)
        if status.phase is Phase.NOT_AUTHORIZED:
            return  # no request until reauthorize(): each would only be refused again
        now = time.monotonic()
        if status.retry_at is not None and now < status.retry_at:
            return
        with self._drain_lock:
            report = DrainReport()
            self._drain(report, ignore_backoff=False)
            with self._lock:
                last_contact = self._status.last_contact  # a push just now counts as one
            if report.batches == 0 and self._due(last_contact, self.settings.heartbeat_interval_s):
                self._heartbeat()
        with self._lock:
            last_catalog = self._status.last_catalog
        if self._due(last_catalog, self.settings.catalog_refresh_s):
            self.refresh_catalog()

    def _housekeeping(self) -> None:
        with self._lock:
            if not self._due(self._status.last_purge, PURGE_INTERVAL_S):
                return
            self._status.last_purge = time.monotonic()
        purged = outbox.purge_synced(self._engine)
        if purged:
            log.info("purged %d synced rows older than %s", purged, outbox.SYNCED_RETENTION)
        finished = outbox.finish_abandoned(self._engine, outbox.ABANDONED_OPEN_AFTER)
        if finished:
            log.info(
                "queued %d unfinished submissions abandoned for over %s",
                finished,
                outbox.ABANDONED_OPEN_AFTER,
            )

    @staticmethod
    def _due(last: float | None, interval: float) -> bool:
        return last is None or time.monotonic() - last >= interval

    def _seconds_to_next_cycle(self) -> float:
        now = time.monotonic()
        with self._lock:
            status = replace(self._status)
        wait = self.settings.idle_poll_s
        if status.retry_at is not None:
            wait = min(wait, status.retry_at - now)
        if status.last_contact is not None:
            wait = min(wait, status.last_contact + self.settings.heartbeat_interval_s - now)
        if status.last_catalog is not None:
            wait = min(wait, status.last_catalog + self.settings.catalog_refresh_s - now)
        return max(0.0, wait)

    # --- pushing ---------------------------------------------------------------------------

    @property
    def _longest_wait(self) -> timedelta:
        """No backoff this worker sets ends later than this from now (plus a minute's slack)."""
        longest = max(self.settings.backoff_max_s, self.settings.retry_after_max_s)
        return timedelta(seconds=longest + 60)

    def _claim(self, limit: int, ignore_backoff: bool) -> list[WireItem]:
        rows = outbox.claim_wire(
            self._engine, limit, ignore_backoff=ignore_backoff, longest_wait=self._longest_wait
        )
        self._tally.moved(OutboxState.PENDING, OutboxState.SENDING, len(rows))
        return rows

    def _settle(
        self, synced: list[outbox.Synced] | None = None, rejected: list[outbox.Rejected] | None = None
    ) -> Settlement:
        settled = outbox.settle(self._engine, synced or (), rejected or ())
        self._tally.moved(OutboxState.SENDING, OutboxState.SYNCED, settled.synced)
        self._tally.moved(OutboxState.SENDING, OutboxState.REJECTED, settled.rejected)
        return settled

    def _drain(self, report: DrainReport, ignore_backoff: bool) -> None:
        """Claim and push batches until none is due; raises what ended it (of two failed
        pushes, the gravest error: _put_back).

        Two pushes (settings.pushes_in_flight) are on their way at once, each on a helper
        thread: while the server's database works on one batch, its API reads and checks the
        next, and this thread claims batches and settles answers in between. Answers are
        settled in the order their batches were claimed, and the observers told after each.
        Each push reports the queue the kiosk holds as it leaves, batches on their way
        included. When a push fails, the other on its way is awaited and settled by its own
        answer (see _put_back); a stop lets the pushes on their way land."""
        limit = self.settings.batch_size
        self._tally.forget()  # others wrote since the last drain
        flights: deque[_Flight] = deque()
        rows: list[WireItem] = []
        # A claim that came back short found the queue empty: what is queued after it waits
        # for the claim once the pushes on their way have landed, instead of a write to the
        # kiosk's database (which a slow disk could hold up while a push fails) per push.
        short = False
        try:
            with ThreadPoolExecutor(
                max_workers=self.settings.pushes_in_flight, thread_name_prefix=f"{self.name}-push"
            ) as poster:
                if not self._stopping.is_set():
                    rows = self._claim(limit, ignore_backoff)
                    short = len(rows) < limit
                while rows or flights:
                    if rows:
                        if self._stopping.is_set():
                            self._unclaim(rows)  # claimed, never sent: back as it was
                            rows = []
                        else:
                            # A retry during an outage stays OFFLINE until the server answers.
                            self._set_phase(Phase.SYNCING, only_from=(Phase.IDLE,), tallied=True)
                            flights.append(self._post(poster, rows, report))
                            rows = []
                    if (
                        len(flights) < self.settings.pushes_in_flight
                        and not short
                        and not self._stopping.is_set()
                        and not any(_failed(flight) for flight in flights)  # no more to a failing server
                    ):
                        rows = self._claim(limit, ignore_backoff)
                        short = len(rows) < limit
                        if rows:
                            continue
                    if flights:
                        limit = self._land(flights[0], report, limit)
                        flights.popleft()
                        if not flights and not self._stopping.is_set():
                            rows = self._claim(limit, ignore_backoff)  # queued during the pushes
                            short = len(rows) < limit
        except BaseException as exc:
            raised = self._put_back(flights, rows, exc, report)
            if raised is exc:
                raise
            raise raised from exc
        finally:
            self._set_phase(Phase.IDLE, only_from=(Phase.SYNCING,))

    def _post(self, poster: Executor, rows: list[WireItem], report: DrainReport) -> _Flight:
        report.batches += 1
        status = self._device_status(self._tally.queue(in_flight=()))
        return _Flight(rows, poster.submit(self._client.submit_wire, rows, status), time.monotonic())

    def _land(self, flight: _Flight, report: DrainReport, limit: int) -> int:
        """Settle a push by its answer (waiting for it); returns the batch size to use next
        (smaller after a 413). Raises what the push raised."""
        try:
            results = flight.answer.result()
        except BatchTooLarge:
            return self._split(flight.rows, report, limit, flight.started)
        except SyncError as exc:
            log.info(
                "push: %d items not sent (%s) after %.0f ms",
                len(flight.rows),
                _describe(exc),
                _ms(flight.started),
            )
            raise
        self._settle_answer(flight.rows, results, report, flight.started)
        return limit

    def _put_back(
        self, flights: deque[_Flight], unsent: list[WireItem], exc: BaseException, report: DrainReport
    ) -> BaseException:
        """After `exc` ended a drain: rows claimed but not sent go back untouched; every push
        still on its way is awaited, and one the server answered is settled by its answer (its
        items are stored; sent again they would only be answered duplicate). Then the failure
        is noted (after those answers, so that they do not clear it): the gravest of the
        pushes' errors, a refused token before a Retry-After, the longest Retry-After before
        any other; and the unanswered batches wait out its backoff with its message. Returns
        the error the drain raises. release() only touches rows still `sending`: halves of a
        split batch already settled stay so."""
        self._unclaim(unsent)
        unanswered: list[_Flight] = []
        failures: list[BaseException] = [exc]
        for flight in flights:
            failed = flight.answer.exception()
            if failed is None:
                try:
                    self._settle_answer(flight.rows, flight.answer.result(), report, flight.started)
                    continue
                except Exception:  # the disk that failed the drain, say: sent again later
                    log.warning("an answered push could not be settled", exc_info=True)
            elif failed is not exc:
                failures.append(failed)
            unanswered.append(flight)
        if isinstance(exc, Exception):  # never in place of a KeyboardInterrupt or SystemExit
            exc = _gravest(failures)
        delay: float | None
        if isinstance(exc, SyncError):
            delay = self._note_failure(exc)  # None for a refused token: no retry until IT acts
            report.last_error = exc.message
        else:
            delay = self.settings.backoff_max_s  # a bug or a disk error: do not spin
            network = [failure for failure in failures if isinstance(failure, SyncError)]
            if network and isinstance(exc, Exception):
                # A push failed too: the phase says what the network did (offline, and since
                # when) while the drain raises the local fault, which the cycle reports.
                self._note_failure(cast(SyncError, _gravest(network)))  # one of `network`
        message = exc.message if isinstance(exc, SyncError) else f"internal error: {type(exc).__name__}"
        next_attempt = None if delay is None else utcnow() + timedelta(seconds=delay)
        uuids = [row.client_uuid for flight in unanswered for row in flight.rows]
        if uuids:
            try:
                released = outbox.release(self._engine, uuids, message, next_attempt)
            except Exception:
                # They stay `sending` until the next start-up's recovery sends them again.
                log.warning("%d rows of failed pushes could not be put back", len(uuids), exc_info=True)
            else:
                self._tally.moved(OutboxState.SENDING, OutboxState.PENDING, released)
                report.released += released
        return exc

    def _unclaim(self, rows: list[WireItem]) -> None:
        if not rows:
            return
        try:
            unclaimed = outbox.unclaim(self._engine, [row.client_uuid for row in rows])
        except Exception:
            # They stay `sending` until the next start-up's recovery, which sends them again.
            log.warning("%d rows claimed but not sent could not be put back", len(rows), exc_info=True)
            return
        self._tally.moved(OutboxState.SENDING, OutboxState.PENDING, unclaimed)

    def _send(self, rows: list[WireItem], report: DrainReport, limit: int) -> int:
        """Push a batch and settle it, on this thread (a half of a split batch)."""
        started = time.monotonic()
        report.batches += 1
        try:
            results = self._client.submit_wire(rows, self._device_status())
        except BatchTooLarge:
            return self._split(rows, report, limit, started)
        except SyncError as exc:
            log.info("push: %d items not sent (%s) after %.0f ms", len(rows), _describe(exc), _ms(started))
            raise
        self._settle_answer(rows, results, report, started)
        return limit

    def _split(self, rows: list[WireItem], report: DrainReport, limit: int, started: float) -> int:
        """A batch the server found too large (413): its halves, one after the other."""
        halves = split_batch(rows)
        log.info("push: %d items, too large (413) after %.0f ms; splitting", len(rows), _ms(started))
        if halves is None:
            # One item over the server's byte limit can never be sent: it is kept and
            # shown to staff like any rejected item instead of blocking the queue.
            reason = "This submission is larger than the server accepts; it cannot be sent."
            self._settle(rejected=[(rows[0].client_uuid, "payload_too_large", reason)])
            report.sent += 1
            report.rejected += 1
            return limit
        for half in halves:
            limit = self._send(half, report, min(limit, len(halves[0])))
        return min(limit, len(halves[0]))

    def _settle_answer(
        self, rows: list[WireItem], results: list[dict[str, Any]], report: DrainReport, started: float
    ) -> None:
        synced: list[outbox.Synced] = []
        rejected: list[outbox.Rejected] = []
        duplicates = 0
        for row, result in zip(rows, results, strict=True):
            status = result["status"]
            if status == "rejected":
                error = result["error"]
                rejected.append((row.client_uuid, str(error["code"]), str(error.get("message") or "")))
            else:
                synced.append((row.client_uuid, result.get("feedback_id"), result.get("ticket_number")))
                if status == "duplicate":
                    duplicates += 1
        self._settle(synced, rejected)
        report.sent += len(rows)
        report.synced += len(synced)
        report.rejected += len(rejected)
        log.info(
            "push: %d items, %d created, %d duplicate, %d rejected in %.0f ms",
            len(rows),
            len(synced) - duplicates,
            duplicates,
            len(rejected),
            _ms(started),
        )
        self._note_contact(pushed=True)
        self._publish(tallied=True)

    def _heartbeat(self) -> None:
        started = time.monotonic()
        status = self._device_status()
        try:
            self._client.submit([], status)
        except SyncError as exc:
            self._note_failure(exc)
            log.info("heartbeat: not sent (%s) after %.0f ms", _describe(exc), _ms(started))
            raise
        log.info("heartbeat: sent in %.0f ms, queue depth %d", _ms(started), status["queue_depth"])
        self._note_contact(pushed=True)

    def _device_status(self, queue: QueueStatus | None = None) -> dict[str, Any]:
        """The device's health for a push; `queue`: its queue, when read already."""
        depth, oldest = queue if queue is not None else outbox.queue_status(self._engine)
        return {
            "queue_depth": depth,
            "oldest_pending_at": oldest.isoformat() if oldest else None,
            "device_time": utcnow().isoformat(),  # the server measures the clock's drift by it
            "app_version": self._version,
            "printer": self._printer(),
            "last_error": self._local_error(),
        }

    def _printer(self) -> str:
        try:
            state = self._printer_state()
        except Exception:  # a failing printer probe must not stop the heartbeat
            log.warning("the printer state could not be read", exc_info=True)
            return "error"
        return state if state in PRINTER_STATES else "error"

    def _local_error(self) -> dict[str, str] | None:
        try:
            return self._last_error()
        except Exception:  # like the printer probe: never a reason to skip a heartbeat
            log.warning("the last local error could not be read", exc_info=True)
            return None

    # --- state -----------------------------------------------------------------------------

    def _note_contact(self, pushed: bool) -> None:
        """The server answered: online again, backoff reset."""
        with self._lock:
            status = self._status
            status.failures = 0
            status.retry_at = None
            status.offline_since = None
            status.last_error = None
            if status.phase in (Phase.OFFLINE, Phase.NOT_AUTHORIZED):
                status.phase = Phase.IDLE
            if pushed:
                status.last_contact = time.monotonic()
                status.last_success_at = utcnow()

    def _note_failure(self, exc: SyncError) -> float | None:
        """Record a failed exchange; returns the backoff in seconds (None: not authorized)."""
        with self._lock:
            status = self._status
            status.last_error = exc.message
            if isinstance(exc, NotAuthorized):
                status.phase = Phase.NOT_AUTHORIZED
                status.retry_at = None
                return None
            status.failures += 1
            retry_after = exc.retry_after if isinstance(exc, RetryLater) else None
            if isinstance(exc, RetryLater):
                delay = backoff_delay(status.failures, self.settings, retry_after, self._rng)
                status.phase = Phase.OFFLINE
                status.offline_since = status.offline_since or utcnow()
            else:
                # The server answered but refused the request as a whole (a kiosk or server
                # bug): not offline, but trying again soon would only be refused again.
                delay = self.settings.backoff_max_s
            status.retry_at = time.monotonic() + delay + RETRY_TIMER_MARGIN_S
            return delay

    def _set_phase(self, phase: Phase, only_from: tuple[Phase, ...], *, tallied: bool = False) -> None:
        with self._lock:
            changed = self._status.phase in only_from and self._status.phase is not phase
            if changed:
                self._status.phase = phase
        if changed:
            self._publish(tallied=tallied)

    def _snapshot(self, counts: dict[str, int]) -> SyncState:
        with self._lock:
            status = self._status
            return SyncState(
                phase=status.phase,
                offline_since=status.offline_since,
                last_success_at=status.last_success_at,
                counts=counts,
                last_error=status.last_error,
                catalog_updated_at=status.catalog_updated_at,
            )

    def _publish(self, *, tallied: bool = False) -> None:
        """Tell observers, if anything they can see changed. `tallied`: mid-drain, on the
        draining thread, the counts come from the worker's tally instead of a read of the
        outbox (kiosk.sync.tally); every drain ends with a publish that reads it."""
        with self._publish_lock:
            try:
                counts = self._tally.counts() if tallied else outbox.counts(self._engine)
            except Exception:  # a busy or failing disk: publish the rest, counts as last seen
                log.warning("outbox counts unavailable", exc_info=True)
                counts = dict(self._published.counts) if self._published else {}
            state = self._snapshot(counts)
            if state == self._published:
                return
            self._published = state
            for callback in list(self._observers):
                try:
                    callback(state)
                except Exception:  # one broken observer must not stop syncing
                    log.exception("a sync observer failed")


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _describe(exc: SyncError) -> str:
    """A log-safe summary: the kind of failure, never a message that might quote a payload."""
    parts = [type(exc).__name__]
    if exc.status is not None:
        parts.append(f"HTTP {exc.status}")
    if exc.code:
        parts.append(exc.code)
    if exc.__cause__ is not None and exc.status is None:
        parts.append(type(exc.__cause__).__name__)
    return " ".join(parts)
