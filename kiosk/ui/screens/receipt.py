from __future__ import annotations

import io

from PIL.Image import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout

from kiosk.receipt import Receipt, qr_image
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen

QR_ON_SCREEN_PX = 320


class ReceiptScreen(Screen):
    """The reference code and its QR on screen (a phone can scan it even when no printer
    works), and the offer to print it."""

    name = "receipt"
    print_requested = Signal()
    finish = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.receipt: Receipt | None = None
        self._to_file = False
        self.title = parts.label("title", center=True)
        self.promise = parts.label("body", center=True)
        self.code_caption = parts.label("hint")
        self.code = parts.label("code")
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.url = parts.label("hint")
        self.qr = QLabel()
        self.qr.setObjectName("receipt-qr")
        self.qr.setFixedSize(QR_ON_SCREEN_PX, QR_ON_SCREEN_PX)
        self.qr.setScaledContents(True)
        self.print_status = parts.label("body", center=True)
        self.print_button = parts.button(role="primary", name="print")
        self.finish_button = parts.button(role="secondary", name="finish")
        self.print_button.clicked.connect(self.print_requested)
        self.finish_button.clicked.connect(self.finish)
        facts = QVBoxLayout()
        facts.addStretch(1)
        facts.addWidget(self.code_caption)
        facts.addWidget(self.code)
        facts.addWidget(self.url)
        facts.addStretch(1)
        middle = QHBoxLayout()
        middle.addStretch(1)
        middle.addWidget(self.qr)
        middle.addSpacing(48)
        middle.addLayout(facts)
        middle.addStretch(1)
        actions = QHBoxLayout()
        actions.setSpacing(32)
        for b in (self.print_button, self.finish_button):
            b.setMinimumWidth(420)
            actions.addWidget(b)
        self.body.addWidget(self.title)
        self.body.addWidget(self.promise)
        self.body.addStretch(1)
        self.body.addLayout(middle)
        self.body.addStretch(1)
        self.body.addWidget(self.print_status)
        self.body.addLayout(actions)
        self.body.setAlignment(actions, Qt.AlignmentFlag.AlignHCenter)
        self.retranslate()

    def show_receipt(self, receipt: Receipt, *, can_print: bool = True, to_file: bool = False) -> None:
        """`can_print`: a printer is there (without one, the button is hidden and the citizen
        scans or copies the code). `to_file`: receipts are saved as PDF files, not printed."""
        self.receipt = receipt
        self._to_file = to_file
        self.code.setText(receipt.reference_code)
        self.url.setText(receipt.status_url)
        image = qr_image(receipt.status_url, box_size=8).convert("RGB")
        pixmap = QPixmap()
        pixmap.loadFromData(_png(image), "PNG")
        self.qr.setPixmap(pixmap)
        self.print_status.clear()
        self.print_button.setVisible(can_print)
        self.print_button.setEnabled(can_print)
        if not can_print:
            self.show_print_result(False)
        self.retranslate()

    def show_printing(self) -> None:
        """The receipt has been with the print system for a moment (the busy indicator)."""
        self.print_status.setProperty("role", "body")
        style = self.print_status.style()
        style.unpolish(self.print_status)
        style.polish(self.print_status)
        self.print_status.setText(self.tr("Printing…"))

    def show_print_result(self, ok: bool) -> None:
        self.print_status.setProperty("role", "ok" if ok else "error")
        style = self.print_status.style()
        style.unpolish(self.print_status)  # a changed property is only restyled after unpolish
        style.polish(self.print_status)
        if not ok:
            text = self.tr(
                "The printer is not working. Please scan the code with your phone or write it down."
            )
        elif self._to_file:
            text = self.tr("The receipt was saved as a file.")
        else:
            text = self.tr("Your receipt is printing.")
        self.print_status.setText(text)
        self.print_button.setEnabled(not ok)

    def retranslate(self) -> None:
        complaint = self.receipt is not None and self.receipt.complaint
        self.title.setText(
            self.tr("Your complaint is recorded") if complaint else self.tr("Your feedback is recorded")
        )
        self.promise.setText(
            self.tr(
                "It will reach the ministry even if this kiosk is offline. "
                "Keep this code to follow it up on your phone."
            )
        )
        self.code_caption.setText(self.tr("Your reference code"))
        self.print_button.setText(self.tr("Print a receipt"))
        self.finish_button.setText(self.tr("Finish"))


def _png(image: Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
