"""Small values the kiosk keeps for itself (IT's settings are in kiosk.toml)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kiosk.local_db import database
from kiosk.local_db.models import LocalSetting

# The staff PIN's argon2id hash, set by `gea-kiosk enroll`; kiosk.toml's pin_hash wins over it.
STAFF_PIN_HASH = "staff.pin_hash"
# Why the last enrollment from IT's enroll.toml failed (cleared by a successful one): the staff
# screen shows it, since nobody at the counter reads the journal.
ENROLL_PROBLEM = "enroll.problem"


def get_value(engine: Engine, key: str) -> str | None:
    with Session(database.reader(engine)) as session:
        row = session.get(LocalSetting, key)
        return None if row is None else row.value


def set_value(engine: Engine, key: str, value: str) -> None:
    with Session(engine) as session, session.begin():
        session.merge(LocalSetting(key=key, value=value))


def delete_value(engine: Engine, key: str) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(LocalSetting, key)
        if row is not None:
            session.delete(row)
