"""A kiosk data directory enrolled against a live server, as the integration tests use one: a
real SQLite file holding the enrolled device's identity and token.

The caller disposes of the returned `Kiosk.engine` when done (a fixture does it after its yield).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kiosk.local_db import database, identity
from tests.helpers.server import EnrolledDevice, LiveServer

# The public site the kiosk's identity records; receipts' status links point there.
PUBLIC_BASE_URL = "https://feedback.example.gd"


@dataclass
class Kiosk:
    data_dir: Path
    engine: Engine
    device: EnrolledDevice


def make_kiosk(data_dir: Path, live: LiveServer, device: EnrolledDevice) -> Kiosk:
    """A kiosk data directory enrolled as `device` against `live`."""
    engine = database.open_database(data_dir)
    me = identity.Identity(device.device_code, device.entity_id, live.base_url, PUBLIC_BASE_URL)
    identity.save(engine, data_dir, me, device.token)
    return Kiosk(data_dir, engine, device)
