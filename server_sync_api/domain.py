"""Domain types that the services and the API share. They live below both layers: nothing
here imports either (the direction is api -> services -> domain)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    """An enrolled kiosk, as its bearer token identifies it."""

    device_id: int
    device_code: str
    entity_id: str
