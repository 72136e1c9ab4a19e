"""Small widgets every screen uses: labels by role, big buttons, the five faces, choice rows."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kiosk.ui import resources

# ARCHITECTURE 7: 20 mm on the reference 21.5-inch 1920x1080 panel.
MIN_TOUCH_PX = 84


def label(role: str, text: str = "", *, wrap: bool = True, center: bool = False) -> QLabel:
    widget = QLabel(text)
    widget.setProperty("role", role)
    widget.setWordWrap(wrap)
    if center:
        widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return widget


def button(text: str = "", role: str = "secondary", *, name: str | None = None) -> QPushButton:
    widget = QPushButton(text)
    widget.setProperty("role", role)
    widget.setMinimumSize(MIN_TOUCH_PX, MIN_TOUCH_PX)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a touch kiosk: no focus rings left behind
    if name:
        widget.setObjectName(name)
    return widget


def card() -> QWidget:
    widget = QWidget()
    widget.setProperty("role", "card")
    widget.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
    return widget


class FaceRow(QWidget):
    """Five large faces, 1 (very bad) to 5 (very good), each with its word under it, so the
    meaning never depends on colour alone. `rated(n)` on a tap."""

    rated = Signal(int)

    def __init__(self, face_px: int = 200, checkable: bool = False, captions: bool = True) -> None:
        super().__init__()
        self.buttons: list[QPushButton] = []
        self.captions: list[QLabel] = []
        layout = QHBoxLayout(self)
        layout.setSpacing(max(12, face_px // 8))
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        for value in range(1, 6):
            column = QVBoxLayout()
            face = button(role="face", name=f"face-{value}")
            face.setIcon(resources.icon(f"face-{value}.svg"))
            face.setIconSize(QSize(face_px, face_px))
            face.setMinimumSize(face_px + 24, face_px + 24)
            face.setCheckable(checkable)
            face.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            face.clicked.connect(lambda _=False, v=value: self.rated.emit(v))
            if checkable:
                self._group.addButton(face, value)
            caption = label("face-label", center=True)
            caption.setVisible(captions)
            column.addWidget(face, alignment=Qt.AlignmentFlag.AlignHCenter)
            if captions:
                column.addWidget(caption)
            layout.addLayout(column)
            self.buttons.append(face)
            self.captions.append(caption)
        self.retranslate()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def retranslate(self) -> None:
        words = (
            self.tr("Very bad"),
            self.tr("Bad"),
            self.tr("Okay"),
            self.tr("Good"),
            self.tr("Very good"),
        )
        for face, caption, word in zip(self.buttons, self.captions, words, strict=True):
            caption.setText(word)
            face.setAccessibleName(word)
            face.setToolTip(word)

    def value(self) -> int | None:
        checked = self._group.checkedId()
        return None if checked < 0 else checked

    def clear(self) -> None:
        self._group.setExclusive(False)
        for face in self.buttons:
            face.setChecked(False)
        self._group.setExclusive(True)


class ChoiceRow(QWidget):
    """A row (or grid) of big toggle buttons for one choice: touch-friendly where a drop-down
    list is not. `chosen(value)` on a tap."""

    chosen = Signal(object)

    def __init__(self, columns: int = 4) -> None:
        super().__init__()
        self._columns = columns
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._group = QButtonGroup(self)
        self._values: list[object] = []

    def set_options(self, options: Sequence[tuple[object, str]], selected: object = None) -> None:
        for old in self._group.buttons():
            self._group.removeButton(old)
            old.deleteLater()
        self._values = []
        for index, (value, text) in enumerate(options):
            choice = button(text, role="choice")
            choice.setCheckable(True)
            choice.setChecked(value == selected)
            choice.clicked.connect(lambda _=False, v=value: self.chosen.emit(v))
            self._group.addButton(choice, index)
            self._layout.addWidget(choice, index // self._columns, index % self._columns)
            self._values.append(value)

    def value(self) -> object:
        checked = self._group.checkedId()
        return None if checked < 0 else self._values[checked]

    def select(self, value: object) -> None:
        """Choose `value` as a tap would (listeners hear `chosen`)."""
        if value in self._values:
            self._group.button(self._values.index(value)).setChecked(True)
            self.chosen.emit(value)

    def buttons(self) -> list[QPushButton]:
        return [b for b in self._group.buttons() if isinstance(b, QPushButton)]
