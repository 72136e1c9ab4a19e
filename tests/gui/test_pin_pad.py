"""The staff PIN pad, driven by real taps and real key presses."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QTranslator
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from kiosk.ui.widgets import MAX_PIN_DIGITS, MIN_KEY_PX, PinPad

# The offscreen platform says this whenever a window with a minimum size is shown; harmless.
pytestmark = pytest.mark.qt_log_ignore(r"^This plugin does not support propagateSizeHints\(\)$")

DIGITS = "0123456789"


class CaptionTranslator(QTranslator):
    """A translator answering from a dict, standing in for a compiled .qm catalogue."""

    def __init__(self, table: dict[str, str]) -> None:
        super().__init__()
        self._table = table

    def translate(self, context: str, source: str, disambiguation: str | None = None, n: int = -1) -> str:
        del context, disambiguation, n
        return self._table.get(source, "")

    def isEmpty(self) -> bool:
        return False


def key(widget: QWidget, name: str) -> QPushButton:
    matches = [b for b in widget.findChildren(QPushButton) if b.isVisible() and b.accessibleName() == name]
    assert len(matches) == 1, f"{len(matches)} visible keys named {name!r}"
    return matches[0]


def display(pad: PinPad) -> QLabel:
    (label,) = [label for label in pad.findChildren(QLabel) if label.property("role") == "pin-display"]
    return label


def everything_shown(pad: PinPad) -> str:
    """All the text the pad shows or tells assistive technology, to check no digit leaks."""
    parts = [pad.accessibleName(), pad.accessibleDescription()]
    for label in pad.findChildren(QLabel):
        parts += [label.text(), label.accessibleName(), label.accessibleDescription(), label.toolTip()]
    return "\n".join(parts)


class Pad:
    def __init__(self, qtbot: QtBot) -> None:
        self.widget = PinPad()
        qtbot.addWidget(self.widget)
        self.widget.show()
        qtbot.waitExposed(self.widget)
        self.qtbot = qtbot

    def tap(self, name: str) -> None:
        QTest.mouseClick(key(self.widget, name), Qt.MouseButton.LeftButton)

    def tap_digits(self, digits: str) -> None:
        for digit in digits:
            self.tap(digit)

    def submit(self) -> str:
        with self.qtbot.waitSignal(self.widget.submitted, timeout=5_000) as blocker:
            self.tap("OK")
        (pin,) = blocker.args
        assert isinstance(pin, str)
        return pin


@pytest.fixture
def pad(qtbot: QtBot) -> Pad:
    return Pad(qtbot)


def test_digits_show_as_dots_only(pad: Pad) -> None:
    pad.tap_digits("9087")
    assert display(pad.widget).text().replace(" ", "") == "\u2022" * 4
    assert pad.widget.length == 4
    shown = everything_shown(pad.widget)
    # The display's accessible name gives the count ("4 digits entered"), never a digit typed.
    assert "4" in display(pad.widget).accessibleName()
    assert not any(digit in shown for digit in "9087"), shown


def test_ok_emits_the_pin_and_clears_the_pad(pad: Pad) -> None:
    pad.tap_digits("90210")
    assert pad.submit() == "90210"
    assert pad.widget.length == 0
    assert display(pad.widget).text() == ""


def test_ok_with_nothing_entered_emits_nothing(pad: Pad) -> None:
    with pad.qtbot.assertNotEmitted(pad.widget.submitted):
        pad.tap("OK")


def test_backspace_and_clear(pad: Pad) -> None:
    pad.tap_digits("123")
    pad.tap("Backspace")
    assert pad.widget.length == 2
    assert pad.submit() == "12"
    pad.tap_digits("555")
    pad.tap("Clear")
    assert display(pad.widget).text() == ""
    pad.tap_digits("9")
    assert pad.submit() == "9"


def test_at_most_twelve_digits(pad: Pad) -> None:
    pad.tap_digits("1234567890" + "12345")
    assert pad.widget.length == MAX_PIN_DIGITS == 12
    assert display(pad.widget).text().count("\u2022") == 12
    assert pad.submit() == "123456789012"


def test_disabled_pad_ignores_taps_and_keys(pad: Pad) -> None:
    pad.tap_digits("12")
    pad.widget.set_enabled_for_input(False)
    assert not pad.widget.is_enabled_for_input()
    assert pad.widget.length == 0, "a lockout discards the half-typed PIN"
    with pad.qtbot.assertNotEmitted(pad.widget.submitted):
        pad.tap_digits("34")
        pad.tap("OK")
        QTest.keyClicks(pad.widget, "56")
        QTest.keyClick(pad.widget, Qt.Key.Key_Return)
    assert pad.widget.length == 0
    pad.widget.set_enabled_for_input(True)
    pad.tap_digits("78")
    assert pad.submit() == "78"


def test_physical_keyboard(pad: Pad) -> None:
    pad.qtbot.waitUntil(lambda: QApplication.focusWidget() is pad.widget)
    QTest.keyClicks(pad.widget, "4321x")  # a letter is ignored
    QTest.keyClick(pad.widget, Qt.Key.Key_Backspace)
    with pad.qtbot.waitSignal(pad.widget.submitted, timeout=5_000) as blocker:
        QTest.keyClick(pad.widget, Qt.Key.Key_Return)
    assert blocker.args == ["432"]
    QTest.keyClicks(pad.widget, "77")
    QTest.keyClick(pad.widget, Qt.Key.Key_Escape)
    QTest.keyClicks(pad.widget, "8")
    with pad.qtbot.waitSignal(pad.widget.submitted, timeout=5_000) as blocker:
        QTest.keyClick(pad.widget, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert blocker.args == ["8"]


def test_taps_keep_focus_on_the_pad_so_typing_continues(pad: Pad) -> None:
    pad.qtbot.waitUntil(lambda: QApplication.focusWidget() is pad.widget)
    pad.tap_digits("12")
    pad.tap("Backspace")
    assert QApplication.focusWidget() is pad.widget
    QTest.keyClicks(pad.widget, "3")
    assert pad.submit() == "13"


def test_every_key_is_at_least_84_px_even_at_minimum_size(pad: Pad) -> None:
    pad.widget.resize(pad.widget.minimumSizeHint())
    keys = [b for b in pad.widget.findChildren(QPushButton) if b.isVisible()]
    pad.qtbot.waitUntil(lambda: all(b.width() >= MIN_KEY_PX for b in keys))
    assert len(keys) == 13
    for button in keys:
        label = button.accessibleName()
        assert button.minimumSize().width() >= MIN_KEY_PX, label
        assert button.minimumSize().height() >= MIN_KEY_PX, label
        assert button.height() >= MIN_KEY_PX, label
        assert button.focusPolicy() == Qt.FocusPolicy.NoFocus, label
        assert button.property("role") in ("key", "key-special"), label
    assert key(pad.widget, "5").property("role") == "key"
    assert key(pad.widget, "OK").property("role") == "key-special"


def test_captions_follow_a_run_time_language_switch(pad: Pad) -> None:
    translator = CaptionTranslator({"Clear": "Borrar todo", "OK": "Aceptar", "Backspace": "Retroceso"})
    QCoreApplication.installTranslator(translator)
    try:
        pad.qtbot.waitUntil(lambda: _named(pad, "Aceptar"))
        assert key(pad.widget, "Aceptar").text() == "Aceptar"
        assert key(pad.widget, "Borrar todo").text() == "Borrar todo"
        pad.tap_digits("6")
        with pad.qtbot.waitSignal(pad.widget.submitted, timeout=5_000):
            pad.tap("Aceptar")
    finally:
        QCoreApplication.removeTranslator(translator)
    pad.qtbot.waitUntil(lambda: _named(pad, "OK"))


def _named(pad: Pad, name: str) -> bool:
    return any(b.accessibleName() == name for b in pad.widget.findChildren(QPushButton))
