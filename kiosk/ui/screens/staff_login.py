from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout

from kiosk.ui import parts
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets.pin_pad import PinPad


class StaffLoginScreen(Screen):
    """The staff PIN. After repeated mistakes the pad is locked, with a countdown."""

    name = "staff_login"
    citizen = False
    pin_entered = Signal(str)
    cancel = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._locked_for = 0
        self.title = parts.label("title", center=True)
        self.message = parts.label("body", center=True)
        self.pad = PinPad()
        self.pad.submitted.connect(self.pin_entered)
        self.cancel_button = parts.button(role="secondary", name="cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._count_down)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        self.body.addWidget(self.title)
        self.body.addWidget(self.message)
        self.body.addWidget(self.pad, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.body.addStretch(1)
        self.body.addLayout(row)
        self.retranslate()

    def entered(self) -> None:
        self.pad.clear()
        if self._locked_for <= 0:
            self.message.setProperty("role", "body")
            self.retranslate()

    def show_wrong(self, failures: int) -> None:
        self.pad.clear()
        self._set_message(
            self.tr("That PIN is not right. Try again (%n mistakes so far).", "", failures), True
        )

    def show_locked(self, seconds: float) -> None:
        self.pad.clear()
        self._locked_for = int(seconds + 0.999)
        self.pad.set_enabled_for_input(False)
        self._tick.start()
        self._count_down(initial=True)

    def unlock(self) -> None:
        """The lockout is over (the gate's clock says so, whatever the countdown shows)."""
        self._locked_for = 0
        self._tick.stop()
        self.pad.set_enabled_for_input(True)
        self._set_message(self.tr("Enter the staff PIN."), False)

    def show_checking(self) -> None:
        """The PIN check (a deliberately slow hash) has taken a moment: say so."""
        self._set_message(self.tr("Checking the PIN…"), False)

    def show_fault(self, message: str) -> None:
        """The kiosk's own machine is in the way (its disk, its database): staff read why."""
        self.pad.clear()
        self.pad.set_enabled_for_input(True)
        self._set_message(message, True)

    def show_no_pin(self, message: str) -> None:
        self.pad.set_enabled_for_input(False)
        self._set_message(self.tr("Staff mode is not set up on this kiosk. IT sets the staff PIN."), True)
        self.message.setToolTip(message)

    def _count_down(self, initial: bool = False) -> None:
        if not initial:
            self._locked_for -= 1
        if self._locked_for <= 0:
            self.unlock()
            return
        self._set_message(
            self.tr("Too many wrong PINs. Try again in %n seconds.", "", self._locked_for), True
        )

    def _set_message(self, text: str, problem: bool) -> None:
        self.message.setProperty("role", "error" if problem else "body")
        self.message.style().polish(self.message)
        self.message.setText(text)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Staff"))
        self.cancel_button.setText(self.tr("Back to the citizen screen"))
        if self._locked_for <= 0 and self.message.property("role") != "error":
            self.message.setText(self.tr("Enter the staff PIN."))
        self.pad.retranslate()
