from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel

from kiosk.services import SUB_RATINGS
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class DetailsScreen(Screen):
    """The optional next step: four sub-ratings (each saved the moment it is tapped), a
    comment, "I want to make a complaint"."""

    name = "details"
    sub_rated = Signal(str, int)  # which (SUB_RATINGS), value
    comment = Signal()
    complain = Signal()
    send = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.title = parts.label("title", center=True)
        self.rows: dict[str, parts.FaceRow] = {}
        self.row_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(32)
        grid.setVerticalSpacing(8)
        for index, which in enumerate(SUB_RATINGS):
            caption = parts.label("subtitle")
            faces = parts.FaceRow(face_px=96, checkable=True, captions=False)
            faces.rated.connect(lambda value, w=which: self.sub_rated.emit(w, value))
            grid.addWidget(caption, index, 0)
            grid.addWidget(faces, index, 1)
            self.rows[which] = faces
            self.row_labels[which] = caption
        self.comment_button = parts.button(role="secondary", name="add-comment")
        self.complain_button = parts.button(role="secondary", name="complain")
        self.send_button = parts.button(role="primary", name="send")
        self.comment_button.clicked.connect(self.comment)
        self.complain_button.clicked.connect(self.complain)
        self.send_button.clicked.connect(self.send)
        actions = QHBoxLayout()
        actions.setSpacing(32)
        for b in (self.comment_button, self.complain_button, self.send_button):
            b.setMinimumWidth(360)
            actions.addWidget(b)
        self.body.addWidget(self.title)
        self.body.addLayout(grid)
        self.body.setAlignment(grid, Qt.AlignmentFlag.AlignHCenter)
        self.body.addStretch(1)
        self.body.addLayout(actions)
        self.body.setAlignment(actions, Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    def clear(self) -> None:
        """For a new citizen. Not on every visit: coming back from a comment, the faces the
        citizen tapped stay lit."""
        for faces in self.rows.values():
            faces.clear()

    def retranslate(self) -> None:
        self.title.setText(self.tr("Tell us more (optional)"))
        words = {
            "service_quality": self.tr("Quality of the service"),
            "staff_behavior": self.tr("Staff courtesy"),
            "waiting_time": self.tr("Waiting time"),
            "cleanliness": self.tr("Cleanliness"),
        }
        for which, caption in self.row_labels.items():
            caption.setText(words[which])
        self.comment_button.setText(self.tr("Add a comment"))
        self.complain_button.setText(self.tr("I want to make a complaint"))
        self.send_button.setText(self.tr("Send"))
