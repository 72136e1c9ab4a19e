from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout

from kiosk.citizen_flow import Answer
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class ThankYouScreen(Screen):
    """Shown at once after the tap: the rating is already saved. Its buttons wake up after
    the misuse pause, so drumming on the screen does nothing."""

    name = "thanks"
    more = Signal()
    complain = Signal()
    done = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._answer: Answer | None = None
        self._not_saved = False
        self.title = parts.label("title", center=True)
        self.message = parts.label("subtitle", center=True)
        self.more_button = parts.button(role="secondary", name="tell-more")
        self.complain_button = parts.button(role="secondary", name="complain")
        self.done_button = parts.button(role="primary", name="done")
        self.more_button.clicked.connect(self.more)
        self.complain_button.clicked.connect(self.complain)
        self.done_button.clicked.connect(self.done)
        row = QHBoxLayout()
        row.setSpacing(32)
        for b in (self.more_button, self.complain_button, self.done_button):
            b.setMinimumWidth(380)
            policy = b.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            b.setSizePolicy(policy)
            row.addWidget(b)
        self._wake = QTimer(self)
        self._wake.setSingleShot(True)
        # Never early: the buttons must not wake before the citizen flow takes taps again (a
        # coarse timer may fire 5% early, and a Done then a face tapped at once was ignored).
        self._wake.setTimerType(Qt.TimerType.PreciseTimer)
        self._wake.timeout.connect(lambda: self._set_buttons(True))
        self.body.addStretch(1)
        self.body.addWidget(self.title)
        self.body.addWidget(self.message)
        self.body.addSpacing(48)
        self.body.addLayout(row)
        self.body.addStretch(2)
        self.body.setAlignment(row, Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    def show_answer(self, answer: Answer, pause_s: float) -> None:
        self._answer = answer
        self._not_saved = False
        self._set_buttons(False)
        self._wake.start(_wake_ms(pause_s))
        self.retranslate()

    def show_not_saved(self, pause_s: float) -> None:
        """The tap could not be written (a full disk, a stuck database): say so rather than
        thank the citizen for a rating the kiosk does not have. Only Done wakes up."""
        self._answer = None
        self._not_saved = True
        self._set_buttons(False)
        self._wake.start(_wake_ms(pause_s))
        self.retranslate()

    def _set_buttons(self, enabled: bool) -> None:
        """Asleep buttons are hidden rather than greyed out, so nothing looks broken; the layout
        keeps their place, so nothing jumps when they appear."""
        for b in (self.more_button, self.complain_button, self.done_button):
            shown = enabled and (b is self.done_button or not self._not_saved)
            b.setEnabled(shown)
            b.setVisible(shown)

    def retranslate(self) -> None:
        low = self._answer is not None and self._answer.gets_ticket
        if self._not_saved:
            self.title.setText(self.tr("Sorry"))
            self.message.setText(
                self.tr("Your rating could not be saved just now. Please tell a member of staff.")
            )
        else:
            self.title.setText(self.tr("Thank you!"))
            self.message.setText(
                self.tr("We are sorry it did not go well. Tell us what happened, so it can be put right.")
                if low
                else self.tr("Your rating has been recorded.")
            )
        self.more_button.setText(self.tr("Tell us more"))
        self.complain_button.setText(self.tr("I want to make a complaint"))
        self.done_button.setText(self.tr("Done"))


def _wake_ms(pause_s: float) -> int:
    """The pause in whole milliseconds, rounded up and one more, so the buttons wake after the
    flow's own clock has passed the pause, never a fraction of a millisecond before."""
    return math.ceil(pause_s * 1000) + 1
