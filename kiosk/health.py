"""The kiosk's health in one object: queue by state and sync health (ARCHITECTURE 6,
`gea-kiosk status --json`), for the CLI and the staff panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from kiosk.local_db import identity, outbox, sync_health


def report(engine: Engine, data_dir: Path) -> dict[str, Any]:
    who = identity.load(engine)
    health = sync_health.load(engine)
    oldest = outbox.oldest_pending_at(engine)
    return {
        "counts": outbox.counts(engine),
        "device_code": who.device_code if who else None,
        "server_url": who.server_url if who else None,
        "last_success_at": health.last_success_at.isoformat() if health.last_success_at else None,
        "offline_since": health.offline_since.isoformat() if health.offline_since else None,
        "authorized": bool(who) and health.authorized and identity.read_token(data_dir) is not None,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "last_error": health.last_error,
    }


def waiting(counts: dict[str, int]) -> int:
    """Submissions not yet delivered: being answered, queued, or on their way."""
    return counts.get("open", 0) + counts.get("pending", 0) + counts.get("sending", 0)


def phase(report: dict[str, Any], live: str | None) -> str | None:
    """What the sync is doing: the running worker's own phase when there is one, else what
    the stored health says (refused, or offline since when), else None (nothing known)."""
    if live is not None:
        return live
    if not report.get("authorized"):
        return "not_authorized"
    if report.get("offline_since"):
        return "offline"
    return None
