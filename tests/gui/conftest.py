"""Real kiosk windows over a real SQLite data directory (the offline demo kiosk: DEMO1 on the
built-in catalog), with receipts printed to PDF files in the test's own folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from kiosk import demo
from kiosk.citizen_flow import CitizenFlow
from kiosk.config import KioskSettings
from kiosk.staff_gate import StaffGate
from kiosk.ui.app import REFERENCE_SIZE, build_parts, qt_app
from kiosk.ui.i18n import LanguageSwitch
from kiosk.ui.window import KioskParts, KioskWindow

# Short enough to keep the suite quick, long enough for a test to see the buttons asleep.
TEST_THANK_YOU_S = 0.3


class FakeClock:
    """A clock the test moves by hand (for lockouts of many seconds)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def kiosk_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "kiosk"
    demo.prepare_offline(directory)
    return directory


@pytest.fixture
def gate_clock() -> FakeClock:
    return FakeClock()


WindowFactory = Callable[..., KioskWindow]


@pytest.fixture
def make_window(
    qtbot: QtBot, kiosk_dir: Path, tmp_path: Path, gate_clock: FakeClock
) -> Iterator[WindowFactory]:
    windows: list[KioskWindow] = []

    def make(parts: KioskParts | None = None, **settings: Any) -> KioskWindow:
        values: dict[str, Any] = {"print_to_pdf": tmp_path / "receipts", "services": ["SVC-001"], **settings}
        config = KioskSettings(**values)
        qt_app(config)
        if parts is None:
            parts = build_parts(kiosk_dir, config)
        parts.flow = CitizenFlow(parts.services, thank_you_s=TEST_THANK_YOU_S)
        parts.gate = StaffGate(parts.services.engine, config.pin_hash, clock=gate_clock)
        window = KioskWindow(parts, LanguageSwitch())
        window.allow_close()
        window.resize(*REFERENCE_SIZE)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    LanguageSwitch().set_language("en")  # the translator is the application's, not the window's


@pytest.fixture
def window(make_window: WindowFactory) -> KioskWindow:
    return make_window()
