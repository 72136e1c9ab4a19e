from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QStackedWidget, QVBoxLayout, QWidget

from kiosk.catalog import Catalog, Service
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen
from kiosk.ui.widgets.keyboard import OnScreenKeyboard


class WalkInScreen(Screen):
    """A grievance staff log for a citizen at the counter: first what it is about, then the
    description. No contact details are asked (ARCHITECTURE 4.7)."""

    name = "walk_in"
    citizen = False
    submit = Signal(dict)
    cancel = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._catalog: Catalog | None = None
        self._services: list[Service] = []
        self.pages = QStackedWidget()
        self.title = parts.label("title", center=True)
        self.error = parts.label("error", center=True)

        choices = QWidget()
        column = QVBoxLayout(choices)
        self.service_caption = parts.label("subtitle")
        self.service = parts.ChoiceRow(columns=3)
        self.service.chosen.connect(lambda _: self._service_changed())
        self.category_caption = parts.label("subtitle")
        self.category = parts.ChoiceRow(columns=4)
        self.priority_caption = parts.label("subtitle")
        self.priority = parts.ChoiceRow(columns=4)
        self.rating_caption = parts.label("subtitle")
        self.rating = parts.FaceRow(face_px=84, checkable=True)
        for w in (
            self.service_caption,
            self.service,
            self.category_caption,
            self.category,
            self.priority_caption,
            self.priority,
            self.rating_caption,
        ):
            column.addWidget(w)
        column.addWidget(self.rating, alignment=Qt.AlignmentFlag.AlignLeft)
        column.addStretch(1)

        describe = QWidget()
        column = QVBoxLayout(describe)
        self.describe_caption = parts.label("subtitle")
        self.description = QPlainTextEdit()
        self.description.setObjectName("walk-in-description")
        self.description.setFixedHeight(180)
        self.keyboard = OnScreenKeyboard()
        self.keyboard.attach(self.description)
        column.addWidget(self.describe_caption)
        column.addWidget(self.description)
        column.addWidget(self.keyboard, alignment=Qt.AlignmentFlag.AlignHCenter)

        self.pages.addWidget(choices)
        self.pages.addWidget(describe)
        self.back_button = parts.button(name="back")
        self.next_button = parts.button(role="primary", name="next")
        self.back_button.clicked.connect(self._back)
        self.next_button.clicked.connect(self._next)
        actions = QHBoxLayout()
        actions.addWidget(self.back_button)
        actions.addStretch(1)
        actions.addWidget(self.next_button)
        self.body.setSpacing(12)
        self.body.addWidget(self.title)
        self.body.addWidget(self.pages, 1)
        self.body.addWidget(self.error)
        self.body.addLayout(actions)
        self.retranslate()

    def set_catalog(self, catalog: Catalog, services: list[Service], language: str) -> None:
        self._catalog = catalog
        self._services = services
        self.keyboard.set_language(language)
        self.service.set_options([(s.service_id, s.name) for s in services])
        self.priority.set_options(catalog.priorities)
        if len(services) == 1:
            self.service.select(services[0].service_id)
        self._service_changed()

    def entered(self) -> None:
        self.pages.setCurrentIndex(0)
        self.description.clear()
        self.rating.clear()
        self.error.clear()
        if len(self._services) != 1:
            self.service.set_options([(s.service_id, s.name) for s in self._services])
        if self._catalog is not None:
            self.priority.set_options(self._catalog.priorities)
        self._service_changed()
        self.retranslate()

    def show_error(self, message: str) -> None:
        self.error.setText(message)

    def _service_changed(self) -> None:
        chosen = self.service.value()
        service = next((s for s in self._services if s.service_id == chosen), None)
        options = self._catalog.categories_of(service) if self._catalog and service else []
        self.category.set_options(options, selected=options[0][0] if options else None)

    def _back(self) -> None:
        if self.pages.currentIndex() == 0:
            self.cancel.emit()
        else:
            self.pages.setCurrentIndex(0)
            self.retranslate()

    def _next(self) -> None:
        self.error.clear()
        if self.pages.currentIndex() == 0:
            if self.service.value() is None:
                self.error.setText(self.tr("Choose the service."))
            elif self.rating.value() is None:
                self.error.setText(self.tr("Choose the citizen's rating."))
            else:
                self.pages.setCurrentIndex(1)
                self.retranslate()
            return
        if not self.description.toPlainText().strip():
            self.error.setText(self.tr("Describe the grievance."))
            return
        values: dict[str, Any] = {
            "service_id": self.service.value(),
            "rating": self.rating.value(),
            "description": self.description.toPlainText().strip(),
            "category_id": self.category.value(),
            "priority_id": self.priority.value(),
        }
        self.submit.emit(values)

    def retranslate(self) -> None:
        self.title.setText(self.tr("Walk-in grievance"))
        self.service_caption.setText(self.tr("Service"))
        self.category_caption.setText(self.tr("Category"))
        self.priority_caption.setText(self.tr("Priority (optional)"))
        self.rating_caption.setText(self.tr("The citizen's rating"))
        self.describe_caption.setText(
            self.tr("What happened? Do not write the citizen's name, phone number or ID.")
        )
        self.back_button.setText(self.tr("Back"))
        self.next_button.setText(
            self.tr("Next") if self.pages.currentIndex() == 0 else self.tr("Log grievance")
        )
        self.rating.retranslate()
