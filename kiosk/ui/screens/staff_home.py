from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout

from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class StaffHomeScreen(Screen):
    """What staff can do; every choice is a large button."""

    name = "staff_home"
    citizen = False
    walk_in = Signal()
    reprint = Signal()
    lookup = Signal()
    health = Signal()
    language = Signal()
    contrast = Signal()
    leave = Signal()
    exit_kiosk = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.title = parts.label("title", center=True)
        self.buttons = {
            "walk_in": parts.button(role="primary", name="walk-in"),
            "lookup": parts.button(name="lookup"),
            "reprint": parts.button(name="reprint"),
            "health": parts.button(name="health"),
            "language": parts.button(name="language"),
            "contrast": parts.button(name="contrast"),
            "leave": parts.button(role="primary", name="leave"),
            "exit_kiosk": parts.button(role="danger", name="exit-kiosk"),
        }
        grid = QGridLayout()
        grid.setSpacing(28)
        for index, (key, b) in enumerate(self.buttons.items()):
            b.setMinimumHeight(120)
            b.clicked.connect(getattr(self, key))
            grid.addWidget(b, index // 2, index % 2)
        self.body.addWidget(self.title)
        self.body.addStretch(1)
        self.body.addLayout(grid)
        self.body.addStretch(1)
        self.retranslate()

    def retranslate(self) -> None:
        self.title.setText(self.tr("Staff"))
        texts = {
            "walk_in": self.tr("Log a walk-in grievance"),
            "lookup": self.tr("Look up a reference or ticket"),
            "reprint": self.tr("Reprint a receipt"),
            "health": self.tr("Sync health"),
            "language": self.tr("Switch language"),
            "contrast": self.tr("High contrast on/off"),
            "leave": self.tr("Back to the citizen screen"),
            "exit_kiosk": self.tr("Exit kiosk mode"),
        }
        for key, b in self.buttons.items():
            b.setText(texts[key])
