"""The app's keeper takes over the data directory's lock while a citizen is answering: the
`gea-kiosk sync --watch` that held it stops (a real process, SIGTERM). The citizen's open
row is theirs until they finish, so the comment they add after the take-over is kept; an
open row abandoned for over an hour is queued (the process that began it is long gone)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from kiosk import bootstrap, demo
from kiosk.config import KioskSettings
from kiosk.local_db import database, outbox
from kiosk.local_db.models import OutboxItem, OutboxState
from kiosk.services import KioskServices
from kiosk.sync.keeper import Where
from tests.helpers import processes
from tests.helpers.processes import wait_until


def test_a_take_over_leaves_the_citizens_open_row_theirs(tmp_path: Path) -> None:
    data_dir = tmp_path / "kiosk"
    demo.prepare_offline(data_dir)  # enrolled, with a server nobody answers
    watch = processes.sync_watch(data_dir)
    engine = database.open_database(data_dir)
    keeper = bootstrap.keeper(engine, data_dir, KioskSettings())
    try:
        watch.wait_for_line("Syncing")
        assert keeper.check().where is Where.ELSEWHERE
        keeper.start()
        services = KioskServices(engine, on_pending=keeper.wake)
        abandoned = services.begin_feedback("SVC-001", 3)
        with Session(engine) as session, session.begin():
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.client_uuid == abandoned.client_uuid)
                .values(recorded_at=outbox.utcnow() - outbox.ABANDONED_OPEN_AFTER - timedelta(minutes=1))
            )
        citizen = services.begin_feedback("SVC-001", 2)  # a citizen is answering now

        assert watch.terminate() == 0
        wait_until(lambda: keeper.state.where is Where.RUNNING, "the keeper takes the lock over")

        assert _state(engine, citizen.client_uuid) is OutboxState.OPEN, "still the citizen's"
        services.add_details(citizen.client_uuid, feedback_text="the queue was slow", grievance_flag=True)
        services.finish_feedback(citizen.client_uuid)
        row = outbox.find(engine, citizen.reference_code)
        assert row is not None
        assert row.payload["feedback_text"] == "the queue was slow"
        assert row.state in (OutboxState.PENDING, OutboxState.SENDING)
        assert _state(engine, abandoned.client_uuid) in (OutboxState.PENDING, OutboxState.SENDING)
    finally:
        watch.kill()
        keeper.stop()
        engine.dispose()


def _state(engine: Engine, client_uuid: str) -> OutboxState:
    with Session(engine) as session:
        return session.scalars(select(OutboxItem.state).where(OutboxItem.client_uuid == client_uuid)).one()
