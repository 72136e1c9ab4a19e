"""The kiosk's own on-screen keyboard.

A kiosk may have no physical keyboard, and Qt's virtual keyboard is not part of
pyside6-essentials, so the comment field needs a keyboard of its own. Keys edit the attached
field through its own API (``QLineEdit.insert``, ``QPlainTextEdit.insertPlainText``) rather
than by sending key events to whatever has focus: the kiosk may move focus around (idle
timer, dialogs), and text must still land in the field the citizen is looking at.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QElapsedTimer, QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.ui.parts import MIN_TOUCH_PX

#: Smallest side of any key: the kiosk's touch-target token (20 mm on the reference panel).
MIN_KEY_PX = MIN_TOUCH_PX

#: Languages with a letter layout; ``set_language`` accepts these (and region variants).
LANGUAGES = ("en", "es")

#: Backspace repeats after this delay, at this interval, while held.
BACKSPACE_REPEAT_DELAY_MS = 450
BACKSPACE_REPEAT_INTERVAL_MS = 90

# Every row is laid out on a grid of half-key columns, so rows can be staggered by half a key
# like a physical keyboard. An ordinary key spans two columns.
_GRID_COLUMNS = 20
_KEY_SPAN = 2

# Dynamic property names the stylesheet matches on.
ROLE_PROPERTY = "role"
ROLE_KEY = "key"
ROLE_SPECIAL = "key-special"
SHIFT_PROPERTY = "shift"
#: An int property on a target field: the most characters the keyboard lets it hold.
MAX_CHARS_PROPERTY = "max_chars"

Target = QLineEdit | QPlainTextEdit


class ShiftState(enum.Enum):
    OFF = "off"
    ONCE = "once"  # the next letter is upper case, then back to OFF
    CAPS = "caps"  # every letter upper case until shift is tapped again


class _Action(enum.Enum):
    CHAR = "char"
    SHIFT = "shift"
    BACKSPACE = "backspace"
    SPACE = "space"
    TO_SYMBOLS = "to-symbols"
    TO_LETTERS = "to-letters"
    DONE = "done"


@dataclass(frozen=True)
class _KeySpec:
    action: _Action
    char: str = ""
    span: int = _KEY_SPAN


def _chars(chars: str) -> list[_KeySpec]:
    return [_KeySpec(_Action.CHAR, char) for char in chars]


_SHIFT = _KeySpec(_Action.SHIFT, span=3)
_BACKSPACE = _KeySpec(_Action.BACKSPACE, span=3)
_TO_SYMBOLS = _KeySpec(_Action.TO_SYMBOLS, span=3)
_TO_LETTERS = _KeySpec(_Action.TO_LETTERS, span=3)
_DONE = _KeySpec(_Action.DONE, span=3)


def _letter_rows(lang: str) -> list[list[_KeySpec]]:
    # Spanish gets a row of its own for the accented vowels and opening marks: a separate row is
    # easier to discover for someone who has never used a touch keyboard than a dead accent key
    # or a long press.
    accents = [_chars("áéíóúü¿¡")] if lang == "es" else []
    home = "asdfghjklñ" if lang == "es" else "asdfghjkl"
    return [
        *accents,
        _chars("qwertyuiop"),
        _chars(home),
        [_SHIFT, *_chars("zxcvbnm"), _BACKSPACE],
        [_TO_SYMBOLS, *_chars(","), _KeySpec(_Action.SPACE, span=10), *_chars("."), _DONE],
    ]


def _symbol_rows(lang: str) -> list[list[_KeySpec]]:
    marks = ".,?!¿¡%" if lang == "es" else ".,?!%+#"
    return [
        _chars("1234567890"),
        _chars("-/:;()@\"'&"),
        [*_chars(marks), _BACKSPACE],
        [_TO_LETTERS, _KeySpec(_Action.SPACE, span=14), _DONE],
    ]


def _normalise_language(lang: str) -> str:
    base = lang.replace("-", "_").split("_")[0].lower()
    if base not in LANGUAGES:
        raise ValueError(f"no keyboard layout for language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return base


def _upper(char: str) -> str:
    # str.upper() can grow a character ("ß" -> "SS"); a key types exactly one character.
    upper = char.upper()
    return upper if len(upper) == 1 else char


def _repolish(widget: QWidget) -> None:
    # Qt does not re-evaluate property selectors when a dynamic property changes.
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


class OnScreenKeyboard(QWidget):
    """A touch keyboard that types into an attached QLineEdit or QPlainTextEdit.

    The field's own ``maxLength`` (QLineEdit) and an integer ``max_chars`` dynamic property
    (either type) cap what the keys may add.
    """

    done = Signal()

    def __init__(self, parent: QWidget | None = None, *, language: str = "en") -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._language = _normalise_language(language)
        self._target: Target | None = None
        self._shift = ShiftState.OFF
        self._shift_timer = QElapsedTimer()
        #: A second shift tap within this many ms turns on caps lock; a slower one turns shift off.
        self.double_tap_interval_ms = QGuiApplication.styleHints().mouseDoubleClickInterval()
        self._char_keys: list[tuple[QPushButton, str, bool]] = []  # (key, char, shift applies)
        self._special_keys: list[tuple[QPushButton, _Action]] = []

        self._pages = QStackedWidget(self)
        self._pages.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._pages)
        self._letters = QWidget()
        self._symbols = QWidget()
        self._build_pages()

    # -- public API ---------------------------------------------------------------------------

    def attach(self, target: Target | None) -> None:
        """Send keys to ``target`` from now on; None detaches."""
        self._target = target

    def target(self) -> Target | None:
        target = self._target
        if target is not None and not shiboken6.isValid(target):
            # The field was deleted (its screen closed) while still attached.
            self._target = None
            return None
        return target

    def reset(self) -> None:
        """Shift off and the letters page: the next citizen starts where everyone does."""
        self._set_shift(ShiftState.OFF)
        self.show_letters()

    def language(self) -> str:
        return self._language

    def set_language(self, lang: str) -> None:
        """Rebuild the keys for ``lang`` ("en" or "es"); the letters page is shown afterwards."""
        lang = _normalise_language(lang)
        if lang == self._language:
            return
        self._language = lang
        self._build_pages()

    def shift_state(self) -> ShiftState:
        return self._shift

    def show_letters(self) -> None:
        self._pages.setCurrentWidget(self._letters)

    def show_symbols(self) -> None:
        self._pages.setCurrentWidget(self._symbols)

    def retranslate(self) -> None:
        """Reload the captions that are words, for a run-time language switch."""
        for key, action in self._special_keys:
            if action is _Action.SHIFT:
                self._update_shift_key(key)
            elif action is _Action.BACKSPACE:
                key.setText(self.tr("Delete"))
                key.setAccessibleName(self.tr("Backspace"))
            elif action is _Action.SPACE:
                key.setText(self.tr("space"))
                key.setAccessibleName(self.tr("Space"))
            elif action is _Action.TO_SYMBOLS:
                key.setText(self.tr("?123"))
                key.setAccessibleName(self.tr("Numbers and symbols"))
            elif action is _Action.TO_LETTERS:
                key.setText(self.tr("ABC"))
                key.setAccessibleName(self.tr("Letters"))
            elif action is _Action.DONE:
                key.setText(self.tr("Done"))
                key.setAccessibleName(self.tr("Done"))

    # -- Qt overrides -------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    # -- building -----------------------------------------------------------------------------

    def _build_pages(self) -> None:
        for page in (self._letters, self._symbols):
            if self._pages.indexOf(page) >= 0:
                self._pages.removeWidget(page)
                page.deleteLater()
        self._char_keys = []
        self._special_keys = []
        self._letters = self._build_page(_letter_rows(self._language), shifted=True)
        self._symbols = self._build_page(_symbol_rows(self._language), shifted=False)
        self._pages.addWidget(self._letters)
        self._pages.addWidget(self._symbols)
        self._pages.setCurrentWidget(self._letters)
        self._refresh_char_captions()
        self.retranslate()

    def _build_page(self, rows: list[list[_KeySpec]], *, shifted: bool) -> QWidget:
        page = QWidget()
        page.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        for column in range(_GRID_COLUMNS):
            grid.setColumnStretch(column, 1)
        for row_index, row in enumerate(rows):
            width = sum(spec.span for spec in row)
            # Shorter rows are centred, except that backspace keeps its place at the right edge
            # on every page, where a finger looks for it.
            column = (_GRID_COLUMNS - width) // 2
            if row[-1] is _BACKSPACE:
                column = _GRID_COLUMNS - width
            for spec in row:
                key = self._make_key(spec, shifted=shifted)
                grid.addWidget(key, row_index, column, 1, spec.span)
                column += spec.span
        return page

    def _make_key(self, spec: _KeySpec, *, shifted: bool) -> QPushButton:
        key = QPushButton()
        # Tapping a key must leave focus (and the caret) in the text field.
        key.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        key.setMinimumSize(MIN_KEY_PX, MIN_KEY_PX)
        key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        key.setAutoDefault(False)
        if spec.action is _Action.CHAR:
            key.setProperty(ROLE_PROPERTY, ROLE_KEY)
            key.clicked.connect(functools.partial(self._on_char_key, spec.char, shifted))
            self._char_keys.append((key, spec.char, shifted))
            return key
        key.setProperty(ROLE_PROPERTY, ROLE_SPECIAL)
        key.setObjectName(f"key-{spec.action.value}")
        if spec.action is _Action.BACKSPACE:
            key.setAutoRepeat(True)
            key.setAutoRepeatDelay(BACKSPACE_REPEAT_DELAY_MS)
            key.setAutoRepeatInterval(BACKSPACE_REPEAT_INTERVAL_MS)
        if spec.action is _Action.SHIFT:
            key.setCheckable(True)
        key.clicked.connect(functools.partial(self._on_special_key, spec.action))
        self._special_keys.append((key, spec.action))
        return key

    # -- key handling -------------------------------------------------------------------------

    def _on_char_key(self, char: str, shifted: bool, _checked: bool = False) -> None:
        self._insert(_upper(char) if shifted and self._shift is not ShiftState.OFF else char)
        if shifted and self._shift is ShiftState.ONCE:
            self._set_shift(ShiftState.OFF)

    def _on_special_key(self, action: _Action, _checked: bool = False) -> None:
        if action is _Action.SHIFT:
            self._on_shift()
        elif action is _Action.BACKSPACE:
            self._backspace()
        elif action is _Action.SPACE:
            self._insert(" ")
        elif action is _Action.TO_SYMBOLS:
            self.show_symbols()
        elif action is _Action.TO_LETTERS:
            self.show_letters()
        elif action is _Action.DONE:
            self.done.emit()

    def _on_shift(self) -> None:
        if self._shift is ShiftState.OFF:
            self._shift_timer.start()
            self._set_shift(ShiftState.ONCE)
        elif self._shift is ShiftState.ONCE and self._shift_timer.elapsed() < self.double_tap_interval_ms:
            self._set_shift(ShiftState.CAPS)
        else:
            self._set_shift(ShiftState.OFF)

    def _set_shift(self, state: ShiftState) -> None:
        self._shift = state
        self._refresh_char_captions()
        for key, action in self._special_keys:
            if action is _Action.SHIFT:
                self._update_shift_key(key)

    def _update_shift_key(self, key: QPushButton) -> None:
        caps = self._shift is ShiftState.CAPS
        key.setText(self.tr("CAPS") if caps else self.tr("Shift"))
        key.setAccessibleName(self.tr("Caps lock") if caps else self.tr("Shift"))
        key.setChecked(self._shift is not ShiftState.OFF)
        if key.property(SHIFT_PROPERTY) != self._shift.value:
            key.setProperty(SHIFT_PROPERTY, self._shift.value)
            _repolish(key)

    def _refresh_char_captions(self) -> None:
        upper = self._shift is not ShiftState.OFF
        for key, char, shifted in self._char_keys:
            caption = _upper(char) if shifted and upper else char
            # "&" marks a mnemonic in a button's text; doubled it shows as itself.
            key.setText(caption.replace("&", "&&"))
            key.setAccessibleName(caption)

    # -- editing the target -------------------------------------------------------------------

    def _room(self, target: Target) -> int | None:
        """How many more characters the target takes, replacing its selection; None if no cap."""
        limits: list[int] = []
        max_chars = target.property(MAX_CHARS_PROPERTY)
        if isinstance(max_chars, int) and not isinstance(max_chars, bool):
            limits.append(max_chars)
        if isinstance(target, QLineEdit):
            limits.append(target.maxLength())
            length = len(target.text()) - len(target.selectedText())
        else:
            length = len(target.toPlainText()) - len(target.textCursor().selectedText())
        if not limits:
            return None
        return max(0, min(limits) - length)

    def _insert(self, text: str) -> None:
        target = self.target()
        if target is None or target.isReadOnly() or not target.isEnabled():
            return
        room = self._room(target)
        if room is not None and room < len(text):
            return
        if isinstance(target, QLineEdit):
            target.insert(text)
        else:
            target.insertPlainText(text)
            target.ensureCursorVisible()

    def _backspace(self) -> None:
        target = self.target()
        if target is None or target.isReadOnly() or not target.isEnabled():
            return
        if isinstance(target, QLineEdit):
            target.backspace()
            return
        cursor = target.textCursor()
        if cursor.hasSelection():
            cursor.removeSelectedText()
        else:
            cursor.deletePreviousChar()
        target.setTextCursor(cursor)
        target.ensureCursorVisible()
