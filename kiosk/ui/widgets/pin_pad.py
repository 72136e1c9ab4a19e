"""The staff PIN pad: ten digits, a masked display, and a physical-keyboard fallback.

The display shows one dot per digit and never the digits themselves, in its text or its
accessible name, so neither a citizen looking over the shoulder nor a screen reader learns the
PIN. The pad checks nothing: it hands the digits to whoever listens to ``submitted``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from kiosk.ui.widgets.keyboard import MIN_KEY_PX, ROLE_KEY, ROLE_PROPERTY, ROLE_SPECIAL

#: Longest PIN the pad accepts; further digits are ignored.
MAX_PIN_DIGITS = 12

#: One of these per entered digit. U+2022 is in practically every font, unlike U+25CF.
MASK_CHAR = "\u2022"

ROLE_DISPLAY = "pin-display"

# Phone layout, then the action row.
_DIGIT_ROWS = ("123", "456", "789")


class PinPad(QWidget):
    """Collects a PIN of up to MAX_PIN_DIGITS digits and emits it on OK."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The pad itself takes focus so a physical keyboard works; its keys never do, so a tap
        # does not move focus off the pad.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._digits = ""
        self._input_enabled = True

        self._display = QLabel()
        self._display.setProperty(ROLE_PROPERTY, ROLE_DISPLAY)
        self._display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._display.setMinimumHeight(MIN_KEY_PX)
        self._display.setTextFormat(Qt.TextFormat.PlainText)

        grid = QGridLayout()
        self._keys: list[QPushButton] = []
        for row, digits in enumerate(_DIGIT_ROWS):
            for column, digit in enumerate(digits):
                grid.addWidget(self._digit_key(digit), row, column)
        self._clear_key = self._special_key("pin-clear", self.clear)
        self._backspace_key = self._special_key("pin-backspace", self.backspace)
        self._ok_key = self._special_key("pin-ok", self.submit)
        grid.addWidget(self._clear_key, 3, 0)
        grid.addWidget(self._digit_key("0"), 3, 1)
        grid.addWidget(self._backspace_key, 3, 2)
        grid.addWidget(self._ok_key, 4, 0, 1, 3)

        layout = QVBoxLayout(self)
        layout.addWidget(self._display)
        layout.addLayout(grid)
        self.retranslate()
        self._refresh()

    # -- public API ---------------------------------------------------------------------------

    @property
    def length(self) -> int:
        """How many digits are entered (the digits themselves stay private)."""
        return len(self._digits)

    def is_enabled_for_input(self) -> bool:
        return self._input_enabled

    def set_enabled_for_input(self, enabled: bool) -> None:
        """Accept or refuse input (refused during a lockout); refusing also clears the entry."""
        self._input_enabled = enabled
        if not enabled:
            self._digits = ""
        for key in self._keys:
            key.setEnabled(enabled)
        self._refresh()

    def append_digit(self, digit: str) -> None:
        if not self._input_enabled or len(digit) != 1 or digit not in "0123456789":
            return
        if len(self._digits) >= MAX_PIN_DIGITS:
            return
        self._digits += digit
        self._refresh()

    def backspace(self) -> None:
        if self._input_enabled and self._digits:
            self._digits = self._digits[:-1]
            self._refresh()

    def clear(self) -> None:
        self._digits = ""
        self._refresh()

    def submit(self) -> None:
        """Emit the entered PIN and clear the pad; an empty entry emits nothing."""
        if not self._input_enabled or not self._digits:
            return
        pin = self._digits
        # Cleared before emitting, so a handler that shows an error or a lockout finds an empty pad.
        self.clear()
        self.submitted.emit(pin)

    def retranslate(self) -> None:
        """Reload the captions that are words, for a run-time language switch."""
        self._clear_key.setText(self.tr("Clear"))
        self._clear_key.setAccessibleName(self.tr("Clear"))
        self._backspace_key.setText(self.tr("Delete"))
        self._backspace_key.setAccessibleName(self.tr("Backspace"))
        self._ok_key.setText(self.tr("OK"))
        self._ok_key.setAccessibleName(self.tr("OK"))
        self._refresh()

    # -- Qt overrides -------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # The login screen holds nothing else to type into; a staff member with a keyboard
        # should be able to type straight away.
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt's name)
        # Digits typed and left behind do not wait in memory for the next person.
        self.clear()
        super().hideEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        text = event.text()
        if text and text in "0123456789":
            self.append_digit(text)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submit()
        elif key == Qt.Key.Key_Backspace:
            self.backspace()
        elif key in (Qt.Key.Key_Escape, Qt.Key.Key_Delete):
            if self._input_enabled:
                self.clear()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # -- internals ----------------------------------------------------------------------------

    def _make_key(self, role: str) -> QPushButton:
        key = QPushButton()
        key.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        key.setMinimumSize(MIN_KEY_PX, MIN_KEY_PX)
        key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        key.setAutoDefault(False)
        key.setProperty(ROLE_PROPERTY, role)
        self._keys.append(key)
        return key

    def _digit_key(self, digit: str) -> QPushButton:
        key = self._make_key(ROLE_KEY)
        key.setText(digit)
        key.setAccessibleName(digit)
        key.setObjectName(f"pin-digit-{digit}")
        key.clicked.connect(functools.partial(self._on_digit, digit))
        return key

    def _special_key(self, name: str, handler: Callable[[], None]) -> QPushButton:
        key = self._make_key(ROLE_SPECIAL)
        key.setObjectName(name)
        key.clicked.connect(handler)
        return key

    def _on_digit(self, digit: str, _checked: bool = False) -> None:
        self.append_digit(digit)

    def _refresh(self) -> None:
        count = len(self._digits)
        self._display.setText(" ".join(MASK_CHAR * count))
        self._display.setAccessibleName(self.tr("PIN, %n digit(s) entered", "", count))
