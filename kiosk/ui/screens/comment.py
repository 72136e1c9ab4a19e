from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit

from kiosk.ui import parts
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets.keyboard import MAX_CHARS_PROPERTY, OnScreenKeyboard


class CommentScreen(Screen):
    """A comment, or a complaint, typed on the kiosk's own keyboard (a kiosk may have no
    system keyboard). A complaint says plainly that it reaches the ministry even offline."""

    name = "comment"
    send = Signal(str, bool)  # text, is a complaint
    back = Signal()

    def __init__(self, max_chars: int = 2000) -> None:
        super().__init__()
        self.complaint = False
        self.title = parts.label("title", center=True)
        self.promise = parts.label("body", center=True)
        self.text = QPlainTextEdit()
        self.text.setObjectName("comment-text")
        self.text.setFixedHeight(180)
        self.counter = parts.label("hint", wrap=False)
        self.text.setProperty(MAX_CHARS_PROPERTY, max_chars)
        self.text.textChanged.connect(self._limit)
        self.keyboard = OnScreenKeyboard()
        self.keyboard.attach(self.text)
        self.error = parts.label("error", center=True)
        self.back_button = parts.button(role="secondary", name="back")
        self.send_button = parts.button(role="primary", name="send")
        self.back_button.clicked.connect(self.back)
        self.send_button.clicked.connect(self._send)
        self.keyboard.done.connect(self._send)
        actions = QHBoxLayout()
        actions.addWidget(self.back_button)
        actions.addStretch(1)
        actions.addWidget(self.counter)
        actions.addStretch(1)
        actions.addWidget(self.send_button)
        self.body.setSpacing(12)
        self.body.addWidget(self.title)
        self.body.addWidget(self.promise)
        self.body.addWidget(self.text)
        self.body.addLayout(actions)
        self.body.addWidget(self.error)
        self.body.addWidget(self.keyboard, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    @property
    def max_chars(self) -> int:
        return int(self.text.property(MAX_CHARS_PROPERTY))

    @max_chars.setter
    def max_chars(self, value: int) -> None:
        # On the field itself, where the keyboard looks: it refuses the key that would not fit,
        # so nothing typed is ever cut off.
        self.text.setProperty(MAX_CHARS_PROPERTY, value)
        self._limit()

    def start(self, complaint: bool, language: str) -> None:
        self.complaint = complaint
        self.text.clear()
        self.error.clear()
        self.keyboard.set_language(language)
        self.keyboard.reset()
        self.text.setFocus()
        self.retranslate()

    def typed(self) -> str:
        return self.text.toPlainText().strip()

    def show_error(self, message: str) -> None:
        self.error.setText(message)

    def _send(self) -> None:
        if self.complaint and not self.typed():
            self.error.setText(self.tr("Please write what went wrong, so it can be put right."))
            return
        self.send.emit(self.typed(), self.complaint)

    def _limit(self) -> None:
        # A safety net only (the keyboard already refuses keys past the limit): text set some
        # other way, or a limit lowered by a catalog refresh, is trimmed from the end.
        typed = self.text.toPlainText()
        if len(typed) > self.max_chars:
            position = min(self.text.textCursor().position(), self.max_chars)
            self.text.setPlainText(typed[: self.max_chars])
            cursor = self.text.textCursor()
            cursor.setPosition(position)
            self.text.setTextCursor(cursor)
        self.counter.setText(self.tr("%n characters left", "", self.max_chars - len(self.text.toPlainText())))

    def retranslate(self) -> None:
        if self.complaint:
            self.title.setText(self.tr("Your complaint"))
            self.promise.setText(
                self.tr(
                    "Your complaint will reach the ministry even if this kiosk is offline. "
                    "You will get a reference code to follow it up."
                )
            )
            self.send_button.setText(self.tr("Send complaint"))
        else:
            self.title.setText(self.tr("Your comment"))
            self.promise.setText(self.tr("Please do not write your name, phone number or ID here."))
            self.send_button.setText(self.tr("Save comment"))
        self.text.setPlaceholderText(self.tr("Type here"))
        self.back_button.setText(self.tr("Back"))
        self._limit()
