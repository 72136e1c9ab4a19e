"""The on-screen keyboard, driven by real taps on its real buttons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, Qt, QTranslator
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from kiosk.ui.widgets import MIN_KEY_PX, OnScreenKeyboard, ShiftState

# The offscreen platform says this whenever a window with a minimum size is shown; harmless.
pytestmark = pytest.mark.qt_log_ignore(r"^This plugin does not support propagateSizeHints\(\)$")

SPANISH_CAPTIONS = {
    "space": "espacio",
    "Space": "Espacio",
    "Done": "Listo",
    "Shift": "Mayús",
    "Delete": "Borrar",
    "Backspace": "Retroceso",
    "Numbers and symbols": "Números y símbolos",
    "Letters": "Letras",
}


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


def visible_keys(widget: QWidget) -> list[QPushButton]:
    return [button for button in widget.findChildren(QPushButton) if button.isVisible()]


def key(widget: QWidget, name: str) -> QPushButton:
    matches = [button for button in visible_keys(widget) if button.accessibleName() == name]
    assert len(matches) == 1, f"{len(matches)} visible keys named {name!r}"
    return matches[0]


def tap(widget: QWidget, name: str) -> None:
    QTest.mouseClick(key(widget, name), Qt.MouseButton.LeftButton)


Field = TypeVar("Field", QLineEdit, QPlainTextEdit)


class Screen(Generic[Field]):
    """A window holding a text field above the keyboard, as the comment screen does."""

    def __init__(self, qtbot: QtBot, field: Field, language: str = "en") -> None:
        self.window = QWidget()
        qtbot.addWidget(self.window)
        self.field: Field = field
        self.keyboard = OnScreenKeyboard(language=language)
        layout = QVBoxLayout(self.window)
        layout.addWidget(field)
        layout.addWidget(self.keyboard)
        self.keyboard.attach(field)
        self.window.show()
        qtbot.waitExposed(self.window)
        self.window.activateWindow()
        field.setFocus()
        qtbot.waitUntil(lambda: QApplication.focusWidget() is field)
        self.qtbot = qtbot

    def tap(self, name: str) -> None:
        tap(self.keyboard, name)

    def type(self, chars: str) -> None:
        for char in chars:
            self.tap("Space" if char == " " else char)


@pytest.fixture
def line_screen(qtbot: QtBot) -> Screen[QLineEdit]:
    return Screen(qtbot, QLineEdit())


@pytest.fixture
def text_screen(qtbot: QtBot) -> Screen[QPlainTextEdit]:
    return Screen(qtbot, QPlainTextEdit())


@pytest.fixture
def spanish_captions() -> Iterator[None]:
    translator = CaptionTranslator(SPANISH_CAPTIONS)
    assert QCoreApplication.installTranslator(translator)
    yield
    QCoreApplication.removeTranslator(translator)


def test_types_spanish_with_an_accented_letter(qtbot: QtBot) -> None:
    screen = Screen(qtbot, QLineEdit(), language="es")
    screen.tap("Shift")
    screen.type("Hola ñandú")
    assert screen.field.text() == "Hola ñandú"


def test_spanish_has_opening_marks_and_accents(qtbot: QtBot) -> None:
    screen = Screen(qtbot, QLineEdit(), language="es")
    screen.type("¿")
    screen.tap("Shift")
    screen.type("Qué")
    screen.tap("Numbers and symbols")
    screen.type("?¡")  # the symbols page has the opening marks too
    screen.tap("Letters")
    screen.type("¡ü")
    assert screen.field.text() == "¿Qué?¡¡ü"


def test_shift_is_one_shot(line_screen: Screen[QLineEdit]) -> None:
    line_screen.tap("Shift")
    assert line_screen.keyboard.shift_state() is ShiftState.ONCE
    assert key(line_screen.keyboard, "Shift").isChecked()
    line_screen.type("H")
    # The caption went back to lower case with the state: "I" is no longer a key.
    assert line_screen.keyboard.shift_state() is ShiftState.OFF
    assert not [button for button in visible_keys(line_screen.keyboard) if button.text() == "I"]
    line_screen.type("i")
    assert line_screen.field.text() == "Hi"


def test_double_tapped_shift_is_caps_lock(line_screen: Screen[QLineEdit]) -> None:
    keyboard = line_screen.keyboard
    keyboard.double_tap_interval_ms = 60_000  # however slow the machine, two taps count as double
    line_screen.tap("Shift")
    line_screen.tap("Shift")
    assert keyboard.shift_state() is ShiftState.CAPS
    assert key(keyboard, "Caps lock").property("shift") == "caps"
    line_screen.type("GEA")
    line_screen.tap("Caps lock")
    line_screen.type("ok")
    assert line_screen.field.text() == "GEAok"


def test_slow_second_shift_tap_turns_shift_off(line_screen: Screen[QLineEdit]) -> None:
    line_screen.keyboard.double_tap_interval_ms = 0  # no second tap is quick enough
    line_screen.tap("Shift")
    line_screen.tap("Shift")
    assert line_screen.keyboard.shift_state() is ShiftState.OFF
    line_screen.type("a")
    assert line_screen.field.text() == "a"


def test_inserts_at_the_cursor_of_a_line_edit(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setText("helo")
    line_screen.field.setCursorPosition(2)
    line_screen.type("l")
    assert line_screen.field.text() == "hello"


def test_backspace_on_a_line_edit(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setText("hello")
    line_screen.field.setCursorPosition(3)
    line_screen.tap("Backspace")
    assert line_screen.field.text() == "helo"
    line_screen.field.setSelection(0, 2)
    line_screen.tap("Backspace")
    assert line_screen.field.text() == "lo"


def test_typing_and_backspace_on_a_plain_text_edit(text_screen: Screen[QPlainTextEdit]) -> None:
    field = text_screen.field
    field.setPlainText("first line\nsecond")
    field.moveCursor(field.textCursor().MoveOperation.End)
    text_screen.tap("Backspace")
    text_screen.tap("Backspace")
    text_screen.type("ft")
    assert field.toPlainText() == "first line\nsecoft"
    field.selectAll()
    text_screen.tap("Backspace")
    assert field.toPlainText() == ""


def test_held_backspace_repeats(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setText("x" * 40)
    backspace = key(line_screen.keyboard, "Backspace")
    QTest.mousePress(backspace, Qt.MouseButton.LeftButton)
    try:
        line_screen.qtbot.waitUntil(lambda: len(line_screen.field.text()) <= 37, timeout=10_000)
    finally:
        QTest.mouseRelease(backspace, Qt.MouseButton.LeftButton)


def test_symbols_page_types_digits_and_punctuation(line_screen: Screen[QLineEdit]) -> None:
    keyboard = line_screen.keyboard
    assert not [button for button in visible_keys(keyboard) if button.accessibleName() == "1"]
    line_screen.tap("Numbers and symbols")
    line_screen.type("10:30 (@/) -'\"?!.,&")
    line_screen.tap("Letters")
    line_screen.type("ok")
    assert line_screen.field.text() == "10:30 (@/) -'\"?!.,&ok"
    # "&" would be read as a mnemonic marker if not escaped in the caption.
    assert key(keyboard, "a").text() == "a"


def test_line_edit_max_length_is_respected(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setMaxLength(5)
    line_screen.type("abcdefg")
    assert line_screen.field.text() == "abcde"
    # A selection is replaced, so a full field can still be corrected by typing over it.
    line_screen.field.setSelection(4, 1)
    line_screen.type("z")
    assert line_screen.field.text() == "abcdz"


def test_max_chars_property_caps_a_plain_text_edit(text_screen: Screen[QPlainTextEdit]) -> None:
    text_screen.field.setProperty("max_chars", 4)
    text_screen.type("abc de")
    assert text_screen.field.toPlainText() == "abc "


def test_max_chars_property_caps_a_line_edit_below_its_max_length(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setProperty("max_chars", 2)
    line_screen.type("abc")
    assert line_screen.field.text() == "ab"


def test_read_only_field_is_not_edited(line_screen: Screen[QLineEdit]) -> None:
    line_screen.field.setText("fixed")
    line_screen.field.setReadOnly(True)
    line_screen.type("a")
    line_screen.tap("Backspace")
    assert line_screen.field.text() == "fixed"


def test_done_emits(line_screen: Screen[QLineEdit]) -> None:
    with line_screen.qtbot.waitSignal(line_screen.keyboard.done, timeout=5_000):
        line_screen.tap("Done")


def test_detached_or_deleted_target_is_left_alone(line_screen: Screen[QLineEdit]) -> None:
    keyboard = line_screen.keyboard
    keyboard.attach(None)
    line_screen.type("a")
    assert line_screen.field.text() == ""
    other = QLineEdit()
    keyboard.attach(other)
    shiboken6.delete(other)
    line_screen.type("b")
    line_screen.tap("Backspace")
    assert keyboard.target() is None


def test_tapping_keys_keeps_focus_in_the_field(line_screen: Screen[QLineEdit]) -> None:
    line_screen.tap("Shift")
    line_screen.type("Hi ")
    line_screen.tap("Backspace")
    line_screen.tap("Numbers and symbols")
    line_screen.type("1")
    line_screen.tap("Letters")
    line_screen.tap("Done")
    assert QApplication.focusWidget() is line_screen.field
    assert line_screen.field.text() == "Hi1"


@pytest.mark.usefixtures("spanish_captions")
def test_language_switch_changes_letters_and_captions(qtbot: QtBot) -> None:
    screen = Screen(qtbot, QLineEdit())
    keyboard = screen.keyboard
    assert not [button for button in visible_keys(keyboard) if button.accessibleName() == "ñ"]
    # The translator was installed before the keyboard was built: captions come out in Spanish.
    assert key(keyboard, "Espacio").text() == "espacio"
    keyboard.set_language("es")
    assert keyboard.language() == "es"
    assert key(keyboard, "ñ").text() == "ñ"
    screen.tap("Mayús")
    screen.type("Año")
    screen.tap("Espacio")
    screen.tap("Retroceso")
    with qtbot.waitSignal(keyboard.done, timeout=5_000):
        screen.tap("Listo")
    assert screen.field.text() == "Año"
    keyboard.set_language("en")
    assert not [button for button in visible_keys(keyboard) if button.accessibleName() == "ñ"]
    screen.type("n")
    assert screen.field.text() == "Añon"


def test_installing_a_translator_retranslates_live(line_screen: Screen[QLineEdit]) -> None:
    keyboard = line_screen.keyboard
    assert key(keyboard, "Done").text() == "Done"
    translator = CaptionTranslator(SPANISH_CAPTIONS)
    QCoreApplication.installTranslator(translator)
    try:
        line_screen.qtbot.waitUntil(lambda: bool(visible_keys(keyboard)) and _has_key(keyboard, "Listo"))
        assert key(keyboard, "Listo").text() == "Listo"
        assert key(keyboard, "Mayús").text() == "Mayús"
    finally:
        QCoreApplication.removeTranslator(translator)
    line_screen.qtbot.waitUntil(lambda: _has_key(keyboard, "Done"))


def _has_key(widget: QWidget, name: str) -> bool:
    return any(button.accessibleName() == name for button in visible_keys(widget))


def test_unknown_language_is_refused_with_the_choices(line_screen: Screen[QLineEdit]) -> None:
    with pytest.raises(ValueError, match="en, es"):
        line_screen.keyboard.set_language("fr")
    line_screen.keyboard.set_language("es_ES")
    assert line_screen.keyboard.language() == "es"


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_key_is_at_least_84_px_even_at_minimum_size(qtbot: QtBot, language: str) -> None:
    keyboard = OnScreenKeyboard(language=language)
    qtbot.addWidget(keyboard)
    keyboard.show()
    qtbot.waitExposed(keyboard)
    keyboard.resize(keyboard.minimumSizeHint())
    for page in (keyboard.show_letters, keyboard.show_symbols):
        page()
        qtbot.waitUntil(lambda: all(b.width() >= MIN_KEY_PX for b in visible_keys(keyboard)))
        keys = visible_keys(keyboard)
        assert len(keys) >= 20
        for button in keys:
            label = button.accessibleName()
            assert button.minimumSize().width() >= MIN_KEY_PX, label
            assert button.minimumSize().height() >= MIN_KEY_PX, label
            assert button.width() >= MIN_KEY_PX, label
            assert button.height() >= MIN_KEY_PX, label
            assert button.focusPolicy() == Qt.FocusPolicy.NoFocus, label
            assert button.property("role") in ("key", "key-special"), label
            assert label, "every key has an accessible name"


def test_special_keys_are_marked_for_styling(line_screen: Screen[QLineEdit]) -> None:
    keyboard = line_screen.keyboard
    for name in ("Shift", "Backspace", "Space", "Numbers and symbols", "Done"):
        assert key(keyboard, name).property("role") == "key-special", name
    assert key(keyboard, "q").property("role") == "key"
    assert key(keyboard, "Backspace").autoRepeat()
