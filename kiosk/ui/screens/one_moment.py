from __future__ import annotations

from PySide6.QtCore import Qt

from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class OneMomentScreen(Screen):
    """Shown for a few seconds after the kiosk recovered from an internal error, before the
    attract screen returns: calm words, nothing to tap, nothing that looks broken."""

    name = "one_moment"

    def __init__(self) -> None:
        super().__init__()
        self.title = parts.label("title", center=True)
        self.message = parts.label("subtitle", center=True)
        self.body.addStretch(1)
        self.body.addWidget(self.title)
        self.body.addWidget(self.message)
        self.body.addStretch(2)
        self.body.setAlignment(self.title, Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    def retranslate(self) -> None:
        self.title.setText(self.tr("One moment, please"))
        self.message.setText(self.tr("The kiosk is getting ready for you."))
