from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit

from kiosk.services import LookupResult
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets.keyboard import OnScreenKeyboard


class LookupScreen(Screen):
    """A reference code or ticket number: the server's answer when online, else the kiosk's."""

    name = "lookup"
    citizen = False
    lookup = Signal(str)
    reprint = Signal(str)
    back = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._found: LookupResult | None = None
        self.title = parts.label("title", center=True)
        self.field = QLineEdit()
        self.field.setObjectName("lookup-code")
        self.field.setMaxLength(40)
        self.field.returnPressed.connect(self._lookup)
        self.go_button = parts.button(role="primary", name="go")
        self.go_button.clicked.connect(self._lookup)
        self.result = parts.label("body")
        self.result.setObjectName("lookup-result")
        self.reprint_button = parts.button(name="reprint")
        self.reprint_button.clicked.connect(self._reprint)
        self.back_button = parts.button(name="back")
        self.back_button.clicked.connect(self.back)
        self.keyboard = OnScreenKeyboard()
        self.keyboard.attach(self.field)
        self.keyboard.done.connect(self._lookup)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.go_button)
        actions = QHBoxLayout()
        actions.addWidget(self.back_button)
        actions.addStretch(1)
        actions.addWidget(self.reprint_button)
        self.body.setSpacing(12)
        self.body.addWidget(self.title)
        self.body.addLayout(row)
        self.body.addWidget(self.result)
        self.body.addLayout(actions)
        self.body.addStretch(1)
        self.body.addWidget(self.keyboard, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    def entered(self) -> None:
        self.field.clear()
        self.result.clear()
        self._found = None
        self.go_button.setEnabled(True)  # an unanswered look-up from an earlier visit is dropped
        self.reprint_button.setVisible(False)
        self.field.setFocus()

    def show_busy(self) -> None:
        self.result.setText(self.tr("Looking up…"))
        self.go_button.setEnabled(False)

    def show_error(self, message: str) -> None:
        """A local fault (the kiosk's disk or database) in staff's words."""
        self.go_button.setEnabled(True)
        self.result.setText(message)

    def show_result(
        self, code: str, found: LookupResult | None, *, printable: bool = False, failed: bool = False
    ) -> None:
        """`printable`: the submission is in this kiosk's outbox, so its receipt can be printed
        here. `failed`: the look-up itself went wrong, which is not the same as "not found"."""
        self.go_button.setEnabled(True)
        self._found = found
        self.reprint_button.setVisible(found is not None and printable)
        if failed:
            self.result.setText(self.tr("The look-up did not work. Please try again in a moment."))
            return
        if found is None:
            self.result.setText(
                self.tr("Nothing found for %1. Check the code and try again.").replace("%1", code)
            )
            return
        where = (
            self.tr("as the ministry's system has it")
            if found.source == "server"
            else self.tr("as this kiosk has it (the server cannot be reached)")
        )
        lines = [
            self.tr("Reference: %1").replace("%1", found.reference_code or "-"),
            self.tr("Ticket: %1").replace("%1", found.ticket_number or self.tr("none yet")),
            self.tr("Status: %1").replace("%1", self._status_words(found.status, found.source)),
            where,
        ]
        self.result.setText("\n".join(lines))

    def _lookup(self) -> None:
        code = self.field.text().strip()
        # Enter and the keyboard's Done reach here too: one look-up at a time.
        if code and self.go_button.isEnabled():
            self.lookup.emit(code)

    def _reprint(self) -> None:
        if self._found is not None and self._found.reference_code:
            self.reprint.emit(self._found.reference_code)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Look up a reference or ticket"))
        self.field.setPlaceholderText(self.tr("Reference code or ticket number"))
        self.go_button.setText(self.tr("Look up"))
        self.reprint_button.setText(self.tr("Print its receipt"))
        self.back_button.setText(self.tr("Back"))

    def _status_words(self, status: str, source: str) -> str:
        if source == "kiosk":
            local = {
                "open": self.tr("being answered on this kiosk"),
                "pending": self.tr("queued on this kiosk, not yet sent"),
                "sending": self.tr("being sent"),
                "synced": self.tr("delivered to the ministry"),
                "rejected": self.tr("refused by the server (see sync health)"),
            }
            return local.get(status, status)
        words = {
            "received": self.tr("received"),
            "open": self.tr("open"),
            "in_progress": self.tr("in progress"),
            "waiting": self.tr("waiting for information"),
            "resolved": self.tr("resolved"),
            "closed": self.tr("closed"),
            "reopened": self.tr("reopened"),
        }
        return words.get(status, status)
