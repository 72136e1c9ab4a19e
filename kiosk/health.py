"""The kiosk's health in one object: queue by state and sync health (ARCHITECTURE 6,
`gea-kiosk status --json`), for the CLI and the staff panel, and the one sentence's worth of
truth the staff panel leads with (`phase`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine

from kiosk.local_db import identity, local_settings, outbox, sync_health
from kiosk.sync.worker import SyncState

# What `phase` can answer, in the order it decides.
PHASES: Final = (
    "not_enrolled",  # no identity or token: IT runs gea-kiosk enroll
    "cannot_sync",  # enrolled, but this kiosk cannot start syncing (e.g. a bad CA bundle)
    "not_authorized",  # the server refused the token: IT re-enrolls the kiosk
    "offline",  # the server cannot be reached or fails; everything is kept
    "syncing",  # sending now
    "online",  # the last exchange worked
    "connecting",  # enrolled, nothing known yet: the first exchange has not happened
)


def report(engine: Engine, data_dir: Path) -> dict[str, Any]:
    who = identity.load(engine)
    health = sync_health.load(engine)
    oldest = outbox.oldest_pending_at(engine)
    token_present = identity.read_token(data_dir) is not None
    return {
        "counts": outbox.counts(engine),
        "device_code": who.device_code if who else None,
        "server_url": who.server_url if who else None,
        "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
        "offline_since": health.offline_since.isoformat() if health.offline_since else None,
        "authorized": bool(who) and health.authorized and token_present,
        "not_authorized_since": (
            health.not_authorized_since.isoformat() if health.not_authorized_since else None
        ),
        "token_present": token_present,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "last_error": health.last_error,
        "enroll_problem": local_settings.get_value(engine, local_settings.ENROLL_PROBLEM),
    }


def waiting(counts: dict[str, int]) -> int:
    """Submissions not yet delivered: being answered, queued, or on their way."""
    return counts.get("open", 0) + counts.get("pending", 0) + counts.get("sending", 0)


def phase(
    report: dict[str, Any], live: str | None = None, problem: str | None = None, *, answered: bool = True
) -> str:
    """One of PHASES. `live` is the running worker's own phase when this process syncs (it
    speaks first, being newest); without one, the stored health (another process's, or the
    last run's) decides. `answered`: the live worker has had an answer from the server since
    it started (until then, what was stored before is no news: "connecting"). `problem`: why
    no worker can start although the kiosk is enrolled."""
    if not report.get("device_code") or not report.get("token_present", True):
        return "not_enrolled"
    if problem:
        return "cannot_sync"
    if live == "not_authorized" or (live is None and not report.get("authorized")):
        return "not_authorized"
    if live == "offline" or (live is None and report.get("offline_since")):
        return "offline"
    if live is not None and not answered:
        return "connecting"
    if live == "syncing":
        return "syncing"
    if report.get("last_success_at"):
        return "online"
    return "connecting"


def for_staff(
    report: dict[str, Any],
    *,
    worker: str,
    sync_problem: str | None,
    live: SyncState | None,
    printer: str,
    printer_problem: str | None,
    problem: str | None,
) -> dict[str, Any]:
    """The staff screen's report: `report` (this module's) with what only the running app
    knows: where the worker runs (`worker`: running, elsewhere, none), why it cannot
    (`sync_problem`), the live worker's state, the printer's state and problem, and the
    kiosk's current local problem. The phase is decided here, once."""
    shown = dict(report)
    if live is not None and live.offline_since is not None:
        # The worker knows since when a moment before its observer has stored it.
        shown["offline_since"] = live.offline_since.isoformat()
    shown.update(
        worker=worker,
        sync_problem=sync_problem,
        printer=printer,
        printer_problem=printer_problem,
        # A failed enrollment from enroll.toml is this kiosk's problem until one succeeds.
        problem=problem or report.get("enroll_problem"),
    )
    shown["phase"] = phase(
        shown,
        live.phase.value if live is not None else None,
        sync_problem,
        answered=live is None or live.last_success_at is not None,
    )
    return shown
