from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit

from kiosk.ui import parts
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets.keyboard import OnScreenKeyboard


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
        self.max_chars = max_chars
        self.text.textChanged.connect(self._limit)
        self.counter = parts.label("hint", wrap=False)
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

    def start(self, complaint: bool, language: str) -> None:
        self.complaint = complaint
        self.text.clear()
        self.error.clear()
        self.keyboard.set_language(language)
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
        typed = self.text.toPlainText()
        if len(typed) > self.max_chars:
            self.text.setPlainText(typed[: self.max_chars])
            self.text.moveCursor(self.text.textCursor().MoveOperation.End)
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
