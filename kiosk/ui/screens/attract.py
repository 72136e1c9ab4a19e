from __future__ import annotations

from PySide6.QtCore import Qt, Signal

from kiosk.catalog import Service
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class AttractScreen(Screen):
    """The counter's service, "How did we do today?", five faces: one tap records a rating.
    A kiosk serving several services asks which one first (the faces stay the same size)."""

    name = "attract"
    rated = Signal(str, int)  # service_id, rating

    def __init__(self) -> None:
        super().__init__()
        self._services: list[Service] = []
        self.service_id: str | None = None
        self.service_label = parts.label("subtitle", center=True)
        self.question = parts.label("title", center=True)
        self.picker_hint = parts.label("hint", center=True)
        self.picker = parts.ChoiceRow(columns=3)
        self.picker.chosen.connect(self._pick)
        self.faces = parts.FaceRow(face_px=220)
        self.faces.rated.connect(self._rate)
        self.hint = parts.label("hint", center=True)
        self.body.addStretch(1)
        self.body.addWidget(self.service_label)
        self.body.addWidget(self.picker_hint)
        self.body.addWidget(self.picker)
        self.body.addWidget(self.question)
        self.body.addSpacing(24)
        self.body.addWidget(self.faces, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.body.addSpacing(16)
        self.body.addWidget(self.hint)
        self.body.addStretch(2)
        self.retranslate()

    def set_services(self, services: list[Service]) -> None:
        self._services = services
        self.picker.set_options([(s.service_id, s.name) for s in services])
        several = len(services) > 1
        self.picker.setVisible(several)
        self.picker_hint.setVisible(several)
        self.service_id = services[0].service_id if len(services) == 1 else None
        self._show_service()

    def retranslate(self) -> None:
        self.question.setText(self.tr("How did we do today?"))
        self.hint.setText(self.tr("Tap a face. One tap is enough."))
        self.picker_hint.setText(self.tr("Which service did you come for?"))
        self._show_service()

    def entered(self) -> None:
        if len(self._services) > 1:
            self.service_id = None
            self.picker.set_options([(s.service_id, s.name) for s in self._services])
        self.retranslate()  # every text afresh: the hint may still show a past problem

    def choose(self, service_id: str) -> None:
        """Select a service as if tapped (the picker's buttons call this too)."""
        self.picker.select(service_id)

    def _pick(self, service_id: object) -> None:
        self.service_id = str(service_id)
        self._show_service()

    def _show_service(self) -> None:
        names = {s.service_id: s.name for s in self._services}
        if not self._services:
            self.service_label.setText(self.tr("This kiosk has no services yet. Please ask at the counter."))
        elif self.service_id is not None:
            self.service_label.setText(names.get(self.service_id, ""))
        else:
            self.service_label.setText("")
        self.faces.setEnabled(self.service_id is not None)

    def _rate(self, rating: int) -> None:
        if self.service_id is not None:
            self.rated.emit(self.service_id, rating)
