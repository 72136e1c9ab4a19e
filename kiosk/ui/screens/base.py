from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class Screen(QWidget):
    """A full-window page. `name` is what screenshots and tests call it; `retranslate` runs
    again whenever the language changes."""

    name = "screen"
    citizen = True  # False for staff screens, which time out on the staff timer

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName(self.name)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(64, 40, 64, 40)
        self.body.setSpacing(24)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def retranslate(self) -> None:
        """Set every visible string (called at the end of __init__ and on a language change)."""

    def entered(self) -> None:
        """The screen is about to show: reset what the previous person left."""
