"""One kiosk against the real server and PostgreSQL: a citizen's complaint on the touchscreen
becomes a ticket in feedback_db, and staff see its ticket number in the status look-up."""

from __future__ import annotations

from pathlib import Path

import psycopg
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from kiosk import bootstrap, pin
from kiosk.config import KioskSettings
from kiosk.local_db import identity, local_settings, outbox
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxState
from kiosk.ui.app import build_parts
from tests.gui.conftest import WindowFactory
from tests.helpers.server import EnrolledDevice, LiveServer

SYNC_WAIT_MS = 30_000


def test_a_complaint_reaches_feedback_db_and_its_ticket_comes_back_to_the_lookup(
    qtbot: QtBot,
    tmp_path: Path,
    live_server: LiveServer,
    device: EnrolledDevice,
    conn: psycopg.Connection[tuple[object, ...]],
    make_window: WindowFactory,
) -> None:
    data_dir = tmp_path / "enrolled"
    engine = open_database(data_dir)
    me = identity.Identity(device.device_code, device.entity_id, live_server.base_url, live_server.base_url)
    identity.save(engine, data_dir, me, device.token)
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, pin.hash_pin("135790"))
    settings = KioskSettings(print_to_pdf=tmp_path / "receipts")
    keeper = bootstrap.keeper(engine, data_dir, settings)
    try:
        assert keeper.check().where.value == "running"
        assert keeper.worker is not None
        keeper.worker.refresh_catalog()
        parts = build_parts(data_dir, settings, engine=engine, keeper=keeper, lookups=True)
        keeper.start()
        window = make_window(parts)
        assert window.attract.service_label.text() == "Passport Application and Renewal"

        QTest.mouseClick(window.attract.faces.buttons[0], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(window.thanks.complain_button.isEnabled, timeout=5_000)
        QTest.mouseClick(window.thanks.complain_button, Qt.MouseButton.LeftButton)
        window.comment.text.setPlainText("Waited three hours; the counter closed early.")
        QTest.mouseClick(window.comment.send_button, Qt.MouseButton.LeftButton)
        reference = window.receipt.code.text()
        QTest.mouseClick(window.receipt.finish_button, Qt.MouseButton.LeftButton)

        def delivered() -> bool:
            row = outbox.find(engine, reference)
            return row is not None and row.state is OutboxState.SYNCED

        qtbot.waitUntil(delivered, timeout=SYNC_WAIT_MS)
        stored = conn.execute(
            "SELECT f.grievance_flag, f.rating, t.ticket_number FROM service_feedback f "
            "JOIN tickets t ON t.feedback_id = f.feedback_id WHERE f.reference_code = %s",
            (reference,),
        ).fetchall()
        assert len(stored) == 1
        grievance, rating, ticket_number = stored[0]
        assert grievance is True
        assert rating == 1

        window.show_screen("lookup")
        window.lookup.field.setText(reference)
        QTest.mouseClick(window.lookup.go_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "Ticket:" in window.lookup.result.text(), timeout=SYNC_WAIT_MS)
        text = window.lookup.result.text()
        assert f"Ticket: {ticket_number}" in text
        assert "as the ministry's system has it" in text
        window.close()
    finally:
        keeper.stop()
        engine.dispose()
