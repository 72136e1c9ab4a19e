"""What the kiosk logs, read back after a whole working life at DEBUG: IT enrolls it, citizens
rate and complain, staff log a walk-in, it syncs, staff look codes up. Every command and the
app write their log files; none of them holds a PIN, a token, an enrollment code or a word a
citizen wrote (issue 10: "no payloads, citizens' texts, PINs, tokens or enrollment codes,
ever")."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy.engine import URL

from kiosk import bootstrap, logs
from kiosk.config import KioskSettings
from kiosk.local_db import database, identity, local_settings, outbox
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.sync.client import EnrolledLookups
from tests.helpers.server import LiveServer, add_device
from tests.integration.test_kiosk_cli import kiosk

PIN = "5093718264"  # long enough never to match a pid, a port or a timing
COMPLAINT = "The clerk at window 3 shouted at my mother"
CARD = "Paper card: waited since dawn in the rain"
WALK_IN = "Citizen reports a bribe was asked for the stamp"
DELIVERY_TIMEOUT_S = 30.0


def test_a_kiosks_logs_hold_no_secret_and_no_citizens_words(
    tmp_path: Path, live_server: LiveServer, db_url: URL, restore_logging: None
) -> None:
    del restore_logging
    data_dir = tmp_path / "kiosk"
    new = add_device(db_url, "AGY-002")
    debug = {"GEA_KIOSK_LOG_LEVEL": "DEBUG"}
    # IT: enroll (code and PIN), then the CLI's own work.
    enrolled = kiosk(
        data_dir, "enroll", "--server", live_server.base_url, "--code", new.enrollment_code,
        GEA_KIOSK_PIN=PIN, **debug,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    submitted = kiosk(data_dir, "submit", "--service", "SVC-001", "--rating", "1", "--text", CARD, **debug)
    assert submitted.returncode == 0, submitted.stderr
    assert kiosk(data_dir, "sync", "--once", **debug).returncode == 0
    assert kiosk(data_dir, "status", **debug).returncode == 0

    # The app's side, in this process at DEBUG: a complaint, a walk-in, a sync, a look-up.
    logs.configure(data_dir, "DEBUG", program="kiosk")
    engine = database.open_database(data_dir)
    keeper = bootstrap.keeper(engine, data_dir, KioskSettings())
    try:
        services = KioskServices(engine, on_pending=keeper.wake)
        submission = services.begin_feedback("SVC-001", 2)
        services.add_details(submission.client_uuid, feedback_text=COMPLAINT, grievance_flag=True)
        services.finish_feedback(submission.client_uuid)
        walk_in = services.log_walk_in("SVC-001", 1, WALK_IN)
        keeper.check()
        keeper.start()
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while not all(
            (row := outbox.find(engine, code)) is not None and row.state is OutboxState.SYNCED
            for code in (submission.reference_code, walk_in.reference_code)
        ):
            assert time.monotonic() < deadline, "the app's submissions were not delivered"
            time.sleep(0.05)
        found = services.lookup(submission.reference_code, EnrolledLookups(engine, data_dir))
        assert found is not None
        assert found.source == "server"
        token = identity.read_token(data_dir)
        pin_hash = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
    finally:
        keeper.stop()
        engine.dispose()
    logs.reset()

    files = sorted((data_dir / "logs").glob("*.log"))
    assert [f.name for f in files] == ["cli.log", "kiosk.log", "sync.log"]
    text = "\n".join(f.read_text() for f in files)
    # The logs are worth reading: they tell what happened...
    assert f"enrolled as {new.device_code}" in text
    assert "push: " in text
    assert f"recorded {submission.reference_code} (open, kiosk)" in text
    assert f"recorded {walk_in.reference_code} (pending, walk_in)" in text
    # ...and never the secrets or the citizens' words.
    assert token
    assert pin_hash
    for secret in (token, new.enrollment_code, PIN, pin_hash, COMPLAINT, CARD, WALK_IN):
        assert secret not in text, f"{secret[:12]}... is in the kiosk's logs"
    for word in ("shouted", "bribe", "dawn"):
        assert word not in text
