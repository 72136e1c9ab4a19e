"""The kiosk's own machine in the way, for real (issue: local fault types): a data directory on
a tiny tmpfs that fills up or is remounted read-only, and a second process holding the SQLite
write lock past the window's busy timeout. Each test runs once per fault.

What each fault must leave true: staff read what to do (kiosk.ui.fault_text), the citizen is
told the truth and the next tap works once the fault is gone, nothing half-written appears,
nothing written before is lost, and the FaultBoard (the heartbeat's last_error) carries the
fault until the next write that commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kiosk import demo, faults
from kiosk.config import KioskSettings
from kiosk.local_db import database, outbox
from kiosk.local_db.models import OutboxItem, OutboxState
from kiosk.staff_gate import FREE_ATTEMPTS
from kiosk.ui.app import build_parts
from kiosk.ui.fault_text import staff_text
from kiosk.ui.window import KioskWindow
from tests.gui.conftest import WindowFactory
from tests.gui.test_kiosk_window import WAIT_MS, enter_pin, rate, rate_and_wait, tap, type_on
from tests.helpers.faults import TinyDisk, WriteLockHolder, checkpoint_wal, open_files_under

# The window's engine waits this long for another process's write lock (the real kiosk: 10 s).
BUSY_TIMEOUT_S = 0.3
NOT_SAVED = "Your rating could not be saved just now. Please tell a member of staff."
GRIEVANCE = "fee charged twice"


# --- the faults ---------------------------------------------------------------------------------


class Injected:
    """One storage fault, brought about for real on the kiosk's data directory and taken away."""

    code: ClassVar[str]
    # Reads fail too (the database cannot even be opened), not only writes.
    reads_fail: ClassVar[bool] = False

    def __init__(self, disk: TinyDisk, data_dir: Path, engine: Engine) -> None:
        self.disk = disk
        self.data_dir = data_dir
        self.engine = engine
        self.active = False

    def start(self) -> None:
        self._start()
        self.active = True

    def stop(self) -> None:
        self._stop()
        self.active = False

    def close(self) -> None:
        """Whatever the test left behind (it may have failed with the fault on)."""
        if self.active:
            self.stop()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def fault(self, where: Path | None = None) -> faults.StorageFault:
        """The fault the kiosk should see (`where`: the data directory, if it says it)."""
        raise NotImplementedError

    def staff_text(self) -> str:
        """What staff read on the touchscreen."""
        return staff_text(self.fault())

    def heartbeat_messages(self) -> set[str]:
        """What the FaultBoard may carry (with or without the data directory's path)."""
        return {self.fault().staff_message, self.fault(self.data_dir).staff_message}


class FullDisk(Injected):
    code = "disk_full"

    def fault(self, where: Path | None = None) -> faults.StorageFault:
        return faults.DiskFull(where)

    def _start(self) -> None:
        checkpoint_wal(self.engine)  # else the WAL's old frames would take the write
        assert database.database_path(self.data_dir).with_name("kiosk.sqlite3-wal").stat().st_size == 0
        self.disk.fill()

    def _stop(self) -> None:
        self.disk.free()


class HeldLock(Injected):
    code = "database_busy"
    holder: WriteLockHolder | None = None

    def fault(self, where: Path | None = None) -> faults.StorageFault:
        del where  # a lock has no place
        return faults.DatabaseBusy()

    def _start(self) -> None:
        self.holder = WriteLockHolder(database.database_path(self.data_dir))

    def _stop(self) -> None:
        assert self.holder is not None
        self.holder.let_go()

    def close(self) -> None:
        if self.holder is not None:
            self.holder.stop()
        self.active = False


class ReadOnlyFolder(Injected):
    code = "data_dir_not_writable"
    reads_fail = True

    def fault(self, where: Path | None = None) -> faults.StorageFault:
        return faults.DataDirNotWritable(where)

    def _start(self) -> None:
        # A file open for writing keeps a mount from turning read-only: close the pool's
        # connections (the engine opens new ones on its next use, as after any restart).
        self.engine.dispose()
        self.disk.read_only()

    def _stop(self) -> None:
        self.disk.writable()


@dataclass
class FaultyKiosk:
    window: KioskWindow
    board: faults.FaultBoard
    engine: Engine
    data_dir: Path
    fault: Injected


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyDisk]:
    with TinyDisk.mounted(tmp_path / "disk") as mounted:
        yield mounted


@pytest.fixture(params=[FullDisk, HeldLock, ReadOnlyFolder], ids=lambda kind: kind.code)
def kiosk(
    request: pytest.FixtureRequest, disk: TinyDisk, make_window: WindowFactory, tmp_path: Path
) -> Iterator[FaultyKiosk]:
    """The offline demo kiosk on the tiny disk, in a real window, with the fault not yet on.
    Its engine and board are wired as the app wires them (kiosk.ui.app.running_kiosk)."""
    data_dir = disk.path / "kiosk"
    demo.prepare_offline(data_dir)
    assert open_files_under(disk.path) == [], "the set-up left files open: the disk could not turn read-only"
    engine = database.open_database(data_dir, busy_timeout_s=BUSY_TIMEOUT_S)
    board = faults.FaultBoard()
    database.report_faults(engine, board)
    settings = KioskSettings(print_to_pdf=tmp_path / "receipts", services=["SVC-001"])
    window = make_window(build_parts(data_dir, settings, engine=engine, board=board))
    injected: Injected = request.param(disk, data_dir, engine)
    try:
        yield FaultyKiosk(window, board, engine, data_dir, injected)
    finally:
        try:
            injected.close()
        finally:
            window.close()  # before the engine goes: closing finishes the citizen's row
            engine.dispose()  # before the disk is unmounted


# --- helpers ------------------------------------------------------------------------------------


def rows(engine: Engine) -> list[outbox.OutboxRow]:
    """Every outbox row, in the order they were recorded (read without taking the write lock)."""
    with Session(database.reader(engine)) as session:
        items = session.scalars(select(OutboxItem).order_by(OutboxItem.sequence))
        return [outbox.OutboxRow.of(item) for item in items]


def integrity(engine: Engine) -> str:
    with database.reader(engine).connect() as connection:
        return str(connection.exec_driver_sql("PRAGMA integrity_check").scalar_one())


def sequence_of(row: outbox.OutboxRow) -> int:
    return int(row.reference_code.split("-")[1])


def only_new_row(engine: Engine, before: list[outbox.OutboxRow]) -> outbox.OutboxRow:
    """The one row added since `before`, every earlier row unchanged and no number skipped (a
    failed write allocates nothing)."""
    after = rows(engine)
    assert after[:-1] == before, "rows recorded before the fault are all there, unchanged"
    assert len(after) == len(before) + 1
    assert sequence_of(after[-1]) == sequence_of(before[-1]) + 1
    return after[-1]


def wrong_pin() -> str:
    return "000000" if demo.demo_pin() != "000000" else "111111"


def log_in(qtbot: QtBot, window: KioskWindow) -> None:
    tap(window.staff_button)
    enter_pin(qtbot, window, demo.demo_pin())
    assert window.current is window.staff_home


def start_walk_in(window: KioskWindow) -> None:
    """Staff fill in a walk-in grievance, up to the last tap."""
    tap(window.staff_home.buttons["walk_in"])
    form = window.walk_in
    tap(form.rating.buttons[1])
    tap(form.next_button)
    type_on(form.keyboard, GRIEVANCE)
    assert form.description.toPlainText() == GRIEVANCE


def recorded_before(qtbot: QtBot, kiosk: FaultyKiosk) -> list[outbox.OutboxRow]:
    """Two citizens rate and finish before the fault; their rows are what must survive it."""
    for rating in (5, 3):
        rate_and_wait(qtbot, kiosk.window, rating)
        tap(kiosk.window.thanks.done_button)
    before = rows(kiosk.engine)
    assert [(r.payload["rating"], r.state) for r in before] == [
        (5, OutboxState.PENDING),
        (3, OutboxState.PENDING),
    ]
    return before


# --- the citizen --------------------------------------------------------------------------------


def test_a_tap_during_the_fault_says_it_was_not_saved_and_the_kiosk_carries_on(
    qtbot: QtBot, kiosk: FaultyKiosk
) -> None:
    window = kiosk.window
    before = recorded_before(qtbot, kiosk)

    kiosk.fault.start()
    tap(window.attract.faces.buttons[3])
    assert window.current is window.thanks, "the citizen is answered, not left on a frozen screen"
    assert window.thanks.title.text() == "Sorry"
    assert window.thanks.message.text() == NOT_SAVED, "no thank-you for a rating the kiosk does not have"
    assert window.flow.current is None
    qtbot.waitUntil(window.thanks.done_button.isEnabled, timeout=WAIT_MS)
    assert not window.thanks.more_button.isVisible(), "nothing to add to a rating that was not saved"
    assert not window.thanks.complain_button.isVisible()
    tap(window.thanks.done_button)
    assert window.current is window.attract
    # The next citizen, the fault still on: answered the same way, never blocked.
    tap(window.attract.faces.buttons[0])
    assert window.current is window.thanks
    assert window.thanks.message.text() == NOT_SAVED
    qtbot.waitUntil(window.thanks.done_button.isEnabled, timeout=WAIT_MS)
    tap(window.thanks.done_button)

    kiosk.fault.stop()
    assert rows(kiosk.engine) == before, "nothing half-written, nothing lost"
    assert integrity(kiosk.engine) == "ok"
    rate(window, 4)
    assert window.thanks.title.text() == "Thank you!"
    assert window.thanks.message.text() == "Your rating has been recorded."
    row = only_new_row(kiosk.engine, before)
    assert (row.payload["rating"], row.payload["channel"], row.state) == (4, "kiosk", OutboxState.OPEN)


def test_the_fault_board_carries_the_fault_until_the_next_write(qtbot: QtBot, kiosk: FaultyKiosk) -> None:
    window = kiosk.window
    before = recorded_before(qtbot, kiosk)
    assert kiosk.board.last_error() is None

    kiosk.fault.start()
    tap(window.attract.faces.buttons[3])
    assert window.thanks.message.text() == NOT_SAVED
    last = kiosk.board.last_error()
    assert last is not None, "the heartbeat must tell IT about the fault"
    assert last["code"] == kiosk.fault.code
    assert last["message"] in kiosk.fault.heartbeat_messages()
    qtbot.waitUntil(window.thanks.done_button.isEnabled, timeout=WAIT_MS)
    tap(window.thanks.done_button)

    kiosk.fault.stop()
    rate(window, 2)
    assert window.thanks.title.text() == "Thank you!"
    only_new_row(kiosk.engine, before)
    assert kiosk.board.last_error() is None, "a write that commits clears the storage fault"


# --- staff --------------------------------------------------------------------------------------


def test_a_wrong_pin_during_the_fault_shows_staff_what_to_do(qtbot: QtBot, kiosk: FaultyKiosk) -> None:
    window = kiosk.window
    login = window.staff_login
    kiosk.fault.start()
    tap(window.staff_button)
    assert window.current is login
    enter_pin(qtbot, window, wrong_pin())  # the gate writes its failure count: it cannot
    assert window.current is login
    assert login.message.text() == kiosk.fault.staff_text()
    assert login.message.property("role") == "error"
    assert login.pad.is_enabled_for_input(), "staff may try again: one mistake locks nothing"
    # A fault never opens the door to endless guesses.
    gate = window.parts.gate
    if kiosk.fault.code == "data_dir_not_writable":
        # The stored PIN hash cannot even be read: no PIN is checked at all, the right one
        # included, so none can be guessed.
        with pytest.raises(faults.StorageFault):
            gate.try_pin(demo.demo_pin())
    else:
        # The PIN is checked, and the mistake counts (in memory) though it is not written.
        assert gate.failures() == 1
        for _ in range(FREE_ATTEMPTS - 1):
            enter_pin(qtbot, window, wrong_pin())
        assert gate.locked_for() > 0, "locked out although nothing could be written"

    kiosk.fault.stop()
    window.parts.gate.reset()  # IT's doing, or the lockout running out
    tap(login.cancel_button)
    log_in(qtbot, window)


def test_a_walk_in_during_the_fault_shows_staff_what_to_do_and_keeps_the_form(
    qtbot: QtBot, kiosk: FaultyKiosk
) -> None:
    window = kiosk.window
    before = recorded_before(qtbot, kiosk)
    log_in(qtbot, window)
    start_walk_in(window)

    kiosk.fault.start()
    tap(window.walk_in.next_button)
    assert window.current is window.walk_in
    assert window.walk_in.error.text() == kiosk.fault.staff_text()
    assert window.walk_in.description.toPlainText() == GRIEVANCE, "kept for another try"

    kiosk.fault.stop()
    assert rows(kiosk.engine) == before, "nothing half-written"
    tap(window.walk_in.next_button)
    assert window.current is window.receipt
    row = only_new_row(kiosk.engine, before)
    assert (row.payload["channel"], row.payload["feedback_text"], row.state) == (
        "walk_in",
        GRIEVANCE,
        OutboxState.PENDING,
    )
    assert window.receipt.code.text() == row.reference_code


def test_sync_health_shows_the_problem_until_a_write_succeeds(qtbot: QtBot, kiosk: FaultyKiosk) -> None:
    window = kiosk.window
    health = window.sync_health
    log_in(qtbot, window)
    tap(window.staff_home.buttons["health"])
    assert health.values["problem"].text() == "none"
    tap(health.back_button)
    start_walk_in(window)

    kiosk.fault.start()
    tap(window.walk_in.next_button)  # refused: the fault is met for real
    assert window.walk_in.error.text() == kiosk.fault.staff_text()
    tap(window.walk_in.back_button)
    tap(window.walk_in.back_button)
    assert window.current is window.staff_home
    tap(window.staff_home.buttons["health"])
    assert window.current is health
    problem = health.values["problem"].text()
    assert problem in {kiosk.fault.staff_text(), *kiosk.fault.heartbeat_messages()}, problem

    kiosk.fault.stop()
    tap(health.back_button)
    start_walk_in(window)
    tap(window.walk_in.next_button)
    assert window.current is window.receipt, "the walk-in is logged once the fault is gone"
    tap(window.receipt.finish_button)
    tap(window.staff_home.buttons["health"])
    assert health.values["problem"].text() == "none"
    assert health.values["queue"].text() == "1 waiting, 0 delivered, 0 rejected"


def test_a_reprint_during_the_fault_prints_if_the_outbox_can_be_read_else_says_why(
    qtbot: QtBot, kiosk: FaultyKiosk
) -> None:
    window = kiosk.window
    submission = window.parts.services.submit_card("SVC-001", 1, grievance=True, text="no receipt given")
    log_in(qtbot, window)
    tap(window.staff_home.buttons["reprint"])
    window.lookup.field.setText(submission.reference_code)
    tap(window.lookup.go_button)
    qtbot.waitUntil(window.lookup.reprint_button.isVisible, timeout=WAIT_MS)

    kiosk.fault.start()
    tap(window.lookup.reprint_button)
    if kiosk.fault.reads_fail:
        assert window.current is window.lookup
        assert window.lookup.result.text() == kiosk.fault.staff_text()
        kiosk.fault.stop()
        tap(window.lookup.reprint_button)
    # A reprint only reads: a full disk or a held write lock do not stop it.
    assert window.current is window.receipt
    assert window.receipt.code.text() == submission.reference_code
    assert window.receipt.print_button.isVisible()


def test_a_look_up_during_the_fault_answers_from_the_outbox_if_it_can_else_says_why(
    qtbot: QtBot, kiosk: FaultyKiosk
) -> None:
    window = kiosk.window
    submission = window.parts.services.submit_card("SVC-001", 2)
    log_in(qtbot, window)
    tap(window.staff_home.buttons["lookup"])

    kiosk.fault.start()
    window.lookup.field.setText(submission.reference_code)
    tap(window.lookup.go_button)
    qtbot.waitUntil(window.lookup.go_button.isEnabled, timeout=WAIT_MS)
    if kiosk.fault.reads_fail:
        assert window.lookup.result.text() == kiosk.fault.staff_text()
        assert not window.lookup.reprint_button.isVisible()
    else:
        assert f"Reference: {submission.reference_code}" in window.lookup.result.text()
        assert window.lookup.reprint_button.isVisible()
