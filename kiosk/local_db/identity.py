"""Who this kiosk is once enrolled: the identity row, and the device token in a file of its
own that only the kiosk's user can read. The token is never logged or printed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kiosk import faults
from kiosk.local_db import database
from kiosk.local_db.models import DeviceIdentity

TOKEN_FILENAME = "device_token"


@dataclass(frozen=True)
class Identity:
    device_code: str
    entity_id: str
    server_url: str
    public_base_url: str


def save(engine: Engine, data_dir: Path, identity: Identity, token: str) -> None:
    """Store the identity and the token. The token is written first and atomically, so a
    crash never leaves an identity without its token or half a token. A StorageFault when
    the disk or the folder is in the way."""
    try:
        write_token(data_dir, token)
    except OSError as exc:
        faults.raise_as_storage_fault(exc, data_dir)
        raise
    with Session(engine) as session, session.begin():
        row = session.get(DeviceIdentity, 1) or DeviceIdentity(id=1)
        row.device_code = identity.device_code
        row.entity_id = identity.entity_id
        row.server_url = identity.server_url
        row.public_base_url = identity.public_base_url
        row.enrolled_at = datetime.now(UTC)
        session.add(row)


def load(engine: Engine) -> Identity | None:
    with Session(database.reader(engine)) as session:
        row = session.get(DeviceIdentity, 1)
        if row is None:
            return None
        return Identity(row.device_code, row.entity_id, row.server_url, row.public_base_url)


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILENAME


def write_token(data_dir: Path, token: str) -> None:
    path = token_path(data_dir)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, token.encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.chmod(temporary, 0o600)  # in case the file existed with other permissions
    os.replace(temporary, path)
    # The rename itself must reach the disk, or a power cut could bring back the old token.
    directory = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_token(data_dir: Path) -> str | None:
    try:
        return token_path(data_dir).read_text("ascii").strip() or None
    except FileNotFoundError:
        return None
