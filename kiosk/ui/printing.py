"""Printed receipts: one QPainter layout, drawn on the configured printer, on a PDF file, or on
an image for the receipt preview screen (ARCHITECTURE section 7, issue 5 "Receipts").

A missing or failing printer never stops the citizen flow: `ReceiptPrinter.print_receipt`
never raises, and its outcome carries a plain message for staff.

The layout is worked out in tenths of a millimetre on the 80 mm roll's printable width (72 mm)
and scaled to whatever rectangle it is drawn in, so the roll, the A4 block and the preview are
the same drawing. Text is measured with pixel-size fonts, which do not depend on the device's
resolution, so a page can be sized to its content before the printer is opened.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from PySide6.QtCore import QCoreApplication, QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from kiosk import cups_jobs, escpos_printer, faults
from kiosk import receipt as receipts
from kiosk.receipt import Receipt

if TYPE_CHECKING:
    from kiosk.config import KioskSettings

log = logging.getLogger("kiosk.ui")

Paper = Literal["80mm", "A4"]
# What staff see; the heartbeat gets `heartbeat_state()`, in the server's words.
PrinterState = Literal["ok", "missing", "error"]
HeartbeatPrinterState = Literal["ok", "error", "none"]

# Layout units: tenths of a millimetre at the roll's scale.
UNITS_PER_MM: Final = 10
LAYOUT_WIDTH: Final = 720  # the 80 mm roll's printable 72 mm
ROLL_WIDTH_MM: Final = 80.0
ROLL_SIDE_MM: Final = (ROLL_WIDTH_MM - LAYOUT_WIDTH / UNITS_PER_MM) / 2
ROLL_TOP_MM: Final = 4.0
# Blank paper after the text, so the tear bar does not cut through the last line.
ROLL_FEED_MM: Final = 12.0
# On A4 the same receipt, half as large again, in a block at the top of the page.
A4_BLOCK_WIDTH_MM: Final = 110.0
A4_TOP_MM: Final = 20.0
# 44 mm with its quiet zone, so the printed symbol stays over 30 mm (a phone at arm's length
# reads it) after its modules are snapped to whole printer dots.
QR_SIZE: Final = 440
QR_QUIET_MODULES: Final = 4
# Font sizes, in layout units (35 is 3.5 mm, about 10 pt).
TITLE_PX: Final = 60
SERVICE_PX: Final = 42
BODY_PX: Final = 35
SMALL_PX: Final = 30
CODE_PX: Final = 72
CODE_MIN_PX: Final = 40
RULE_WIDTH: Final = 3
GAP: Final = 25
# How long the print thread follows a receipt's job in CUPS before trusting it will print,
# and how often it asks: a receipt printer finishes a slip in a second or two.
PRINT_CONFIRM_S: Final = 5.0
PRINT_POLL_S: Final = 0.1
# Characters kept from a reference code in a file name (codes are K0007-000123-7QX4).
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9-]")


@dataclass(frozen=True)
class PrintOutcome:
    ok: bool
    # For staff, in the kiosk's language.
    message: str
    pdf_path: Path | None = None


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    top: float
    font: QFont
    lines: tuple[str, ...]
    line_height: float
    ascent: float


@dataclass(frozen=True)
class _Rule:
    top: float


@dataclass(frozen=True)
class _Qr:
    top: float
    url: str


@dataclass(frozen=True)
class _Layout:
    items: tuple[_Text | _Rule | _Qr, ...]
    height: float


def _font(pixel_size: int, *, bold: bool = False) -> QFont:
    # The application's font (the shipped one in the kiosk), so receipts match the screens.
    font = QFont(QGuiApplication.font())
    font.setPixelSize(pixel_size)
    font.setBold(bold)
    # Unhinted metrics are the same on the screen, the image and the printer.
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    return font


def _break_anywhere(text: str, metrics: QFontMetricsF, width: float) -> Iterator[str]:
    line = ""
    for char in text:
        if line and metrics.horizontalAdvance(line + char) > width:
            yield line
            line = ""
        line += char
    if line:
        yield line


def _wrap(text: str, metrics: QFontMetricsF, width: float, *, anywhere: bool = False) -> list[str]:
    """Greedy word wrap; a word wider than the line (or any text, with `anywhere`) is cut
    between characters, so nothing is ever clipped at the paper's edge."""
    if anywhere:
        return list(_break_anywhere(text, metrics, width))
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if metrics.horizontalAdvance(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if metrics.horizontalAdvance(word) <= width:
            line = word
        else:
            *whole, line = _break_anywhere(word, metrics, width)
            lines.extend(whole)
    if line:
        lines.append(line)
    return lines


def wording(receipt: Receipt) -> escpos_printer.Wording:
    """The receipt's sentences in the current language: one source for the drawn receipt and
    the ESC/POS one."""
    if receipt.complaint:
        title = QCoreApplication.translate("Receipt", "Complaint receipt")
        closing = QCoreApplication.translate(
            "Receipt",
            "Your complaint will reach the ministry even if this kiosk is offline. "
            "Keep this receipt to follow it up.",
        )
    else:
        title = QCoreApplication.translate("Receipt", "Feedback receipt")
        closing = QCoreApplication.translate(
            "Receipt", "Thank you for your feedback. Scan the code to see what becomes of it."
        )
    ticket = rating = None
    if receipt.ticket_number:
        label = QCoreApplication.translate("Receipt", "Ticket number: %1")
        ticket = label.replace("%1", receipt.ticket_number)
    if receipt.rating is not None:
        label = QCoreApplication.translate("Receipt", "Your rating: %1 of 5")
        rating = label.replace("%1", str(receipt.rating))
    return escpos_printer.Wording(
        title=title,
        reference_label=QCoreApplication.translate("Receipt", "Reference code"),
        ticket=ticket,
        rating=rating,
        closing=closing,
        kiosk=QCoreApplication.translate("Receipt", "Kiosk %1").replace("%1", receipt.device_code),
    )


def _layout(receipt: Receipt) -> _Layout:
    items: list[_Text | _Rule | _Qr] = []
    y = 0.0

    def text(
        value: str, pixel_size: int, *, bold: bool = False, gap: float = 0, anywhere: bool = False
    ) -> None:
        nonlocal y
        font = _font(pixel_size, bold=bold)
        metrics = QFontMetricsF(font)
        lines = _wrap(value, metrics, LAYOUT_WIDTH, anywhere=anywhere)
        y += gap
        items.append(_Text(y, font, tuple(lines), metrics.lineSpacing(), metrics.ascent()))
        y += metrics.lineSpacing() * len(lines)

    def rule() -> None:
        nonlocal y
        y += GAP
        items.append(_Rule(y))
        y += RULE_WIDTH + GAP

    words = wording(receipt)
    text(words.title, TITLE_PX, bold=True)
    text(receipt.service_name, SERVICE_PX, bold=True, gap=GAP)
    text(receipt.entity_name, BODY_PX)
    text(receipt.local_time_text(), BODY_PX)
    rule()
    text(words.reference_label, SMALL_PX)
    # The code is what a citizen reads out on the phone: as large as fits on one line.
    code_px = CODE_PX
    while (
        code_px > CODE_MIN_PX
        and QFontMetricsF(_font(code_px, bold=True)).horizontalAdvance(receipt.reference_code) > LAYOUT_WIDTH
    ):
        code_px -= 2
    text(receipt.reference_code, code_px, bold=True, anywhere=True)
    if words.ticket:
        text(words.ticket, BODY_PX, bold=True, gap=GAP / 2)
    if words.rating:
        text(words.rating, BODY_PX, gap=GAP / 2)
    y += GAP
    items.append(_Qr(y, receipt.status_url))
    y += QR_SIZE
    text(receipt.status_url, SMALL_PX, anywhere=True)
    rule()
    text(words.closing, BODY_PX)
    text(words.kiosk, SMALL_PX, gap=GAP)
    return _Layout(tuple(items), y)


def _draw_qr(painter: QPainter, top: float, url: str) -> None:
    """The QR code as one filled path of whole modules: crisp on a thermal head and in a
    PDF at any zoom, where a scaled bitmap would blur or leave seams between modules."""
    image = receipts.qr_image(url, box_size=1, border=0)
    count = image.width
    modules = count + 2 * QR_QUIET_MODULES
    to_device = painter.deviceTransform()
    device_per_unit = math.hypot(to_device.m11(), to_device.m12())
    # Whole device pixels per module, so every module prints the same size.
    module = max(1, math.floor(QR_SIZE * device_per_unit / modules)) / device_per_unit
    left = (LAYOUT_WIDTH - module * modules) / 2 + QR_QUIET_MODULES * module
    origin = to_device.map(QPointF(left, top + QR_QUIET_MODULES * module))
    origin = to_device.inverted()[0].map(QPointF(round(origin.x()), round(origin.y())))
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    pixels = image.tobytes()  # one bit per module, rows padded to whole bytes; a set bit is white
    stride = (count + 7) // 8
    for row in range(count):
        start: int | None = None
        for col in range(count + 1):
            dark = col < count and not pixels[row * stride + col // 8] & (0x80 >> (col % 8))
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                path.addRect(
                    QRectF(
                        origin.x() + start * module, origin.y() + row * module, (col - start) * module, module
                    )
                )
                start = None
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.fillPath(path, QColor(Qt.GlobalColor.black))
    painter.restore()


def _draw(painter: QPainter, rect: QRectF, receipt: Receipt) -> float:
    """Draw the receipt from the top of `rect`, scaled to its width; returns the height used."""
    layout = _layout(receipt)
    scale = rect.width() / LAYOUT_WIDTH
    painter.save()
    painter.translate(rect.topLeft())
    painter.scale(scale, scale)
    painter.setPen(QPen(QColor(Qt.GlobalColor.black)))
    for item in layout.items:
        if isinstance(item, _Qr):
            _draw_qr(painter, item.top, item.url)
        elif isinstance(item, _Rule):
            painter.fillRect(QRectF(0, item.top, LAYOUT_WIDTH, RULE_WIDTH), QColor(Qt.GlobalColor.black))
        else:
            painter.setFont(item.font)
            metrics = QFontMetricsF(item.font)
            for index, line in enumerate(item.lines):
                left = max(0.0, (LAYOUT_WIDTH - metrics.horizontalAdvance(line)) / 2)
                painter.drawText(QPointF(left, item.top + index * item.line_height + item.ascent), line)
    painter.restore()
    return layout.height * scale


def _geometry(receipt: Receipt, paper: Paper) -> tuple[QSizeF, QRectF]:
    """The page (mm) and where the receipt goes on it (mm)."""
    height_mm = _layout(receipt).height / UNITS_PER_MM
    if paper == "80mm":
        page = QSizeF(ROLL_WIDTH_MM, math.ceil(ROLL_TOP_MM + height_mm + ROLL_FEED_MM))
        return page, QRectF(ROLL_SIDE_MM, ROLL_TOP_MM, LAYOUT_WIDTH / UNITS_PER_MM, height_mm)
    page = QPageSize.definitionSize(QPageSize.PageSizeId.A4)
    scale = A4_BLOCK_WIDTH_MM / (LAYOUT_WIDTH / UNITS_PER_MM)
    left = (page.width() - A4_BLOCK_WIDTH_MM) / 2
    return page, QRectF(left, A4_TOP_MM, A4_BLOCK_WIDTH_MM, height_mm * scale)


def render_preview(receipt: Receipt, paper: Paper, width_px: int) -> QImage:
    """The receipt as it will print, `width_px` wide for the paper's width: the whole roll
    slip, or the top of the A4 page down to just below the receipt."""
    page, block = _geometry(receipt, paper)
    px_per_mm = width_px / page.width()
    height_mm = page.height() if paper == "80mm" else block.bottom() + A4_TOP_MM
    image = QImage(width_px, math.ceil(height_mm * px_per_mm), QImage.Format.Format_RGB32)
    image.fill(QColor(Qt.GlobalColor.white))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        target = QRectF(
            block.x() * px_per_mm,
            block.y() * px_per_mm,
            block.width() * px_per_mm,
            block.height() * px_per_mm,
        )
        _draw(painter, target, receipt)
    finally:
        painter.end()
    return image


# --- printing -------------------------------------------------------------------------------


class ReceiptPrinter:
    """Prints receipts on the named Qt printer (None or "": the system default), on a thermal
    ESC/POS printer at `escpos` ("tcp://HOST:PORT" or "usb://VENDOR:PRODUCT", no driver), or
    writes them as PDF files into `pdf_dir` when that is set (a kiosk without a printer, tests)."""

    def __init__(
        self,
        printer_name: str | None,
        pdf_dir: Path | None,
        paper: Paper,
        *,
        escpos: str | None = None,
        board: faults.FaultBoard | None = None,
    ) -> None:
        self._printer_name = printer_name or None
        self._pdf_dir = pdf_dir
        # kiosk.toml allows one destination; the demo's PDF folder wins over IT's printer.
        self._escpos = escpos_printer.parse_target(escpos) if escpos and pdf_dir is None else None
        self._paper: Paper = paper
        self._board = board
        self._missing = False  # no printer found at the last look
        self._stopped = False  # its queue stopped at the last look (paper, jam, a failed job, IT)
        # The PDF folder is a file, or the ESC/POS USB device is not the kiosk's to use.
        self._unusable = False
        self._last_failed = False  # the last receipt did not print, for another reason
        self._setup_problem: str | None = None  # what IT must set up for the ESC/POS printer
        #: Why the last receipt did not print, for staff; None after one that did.
        self.last_problem: str | None = None
        self.refresh()

    @classmethod
    def configured(cls, settings: KioskSettings, *, board: faults.FaultBoard | None = None) -> ReceiptPrinter:
        """The printer kiosk.toml describes."""
        return cls(
            settings.printer, settings.print_to_pdf, settings.paper, escpos=settings.escpos, board=board
        )

    @property
    def saves_pdf(self) -> bool:
        return self._pdf_dir is not None

    @property
    def paper(self) -> Paper:
        return self._paper

    def state(self) -> PrinterState:
        """ "missing" when no printer can be found, "error" when its queue has stopped or the
        last receipt failed, else "ok". Cheap and safe from any thread (the sync worker's
        heartbeat reads it): it does not ask the print system, `refresh()` and
        `print_receipt()` do, on the GUI thread."""
        if self._missing:
            return "missing"
        return "error" if self._last_failed or self._unusable or self._stopped else "ok"

    def heartbeat_state(self) -> HeartbeatPrinterState:
        """The state in the words the server records (`ok`, `error`, `none`): a kiosk that
        should print and cannot is a failing printer for the ministry's fleet view."""
        return "ok" if self.state() == "ok" else "error"

    def refresh(self) -> PrinterState:
        """Ask the print system again whether the printer is there and its queue running."""
        if self._pdf_dir is not None:
            self._unusable = self._pdf_dir.exists() and not self._pdf_dir.is_dir()
        elif self._escpos is not None:
            self._look_for_escpos()
        else:
            info = self._find_printer()
            self._missing = info is None
            self._stopped = info is not None and info.state() == QPrinter.PrinterState.Error
            if info is not None and self._stopped:
                self._note(faults.PrinterFailed(self._stopped_message(info.printerName())))
        state = self.state()
        if state == "missing":
            self._note(faults.PrinterMissing(self._missing_message()))
        elif state == "ok":
            self.last_problem = None  # the problem it named is over: not shown beside "working"
            self._note(None)
        return state

    def print_receipt(self, receipt: Receipt) -> PrintOutcome:
        """Print one receipt. Never raises: a failure comes back as ok=False with a message
        for staff, and the citizen flow goes on."""
        try:
            if self._pdf_dir is not None:
                outcome = self._to_pdf(receipt)
            elif self._escpos is not None:
                outcome = self._to_escpos(receipt)
            else:
                outcome = self._to_printer(receipt)
        except Exception:
            # A bug, not a printer fault; still, a citizen must not see the kiosk break over a receipt.
            log.exception("printing the receipt of %s failed", receipt.reference_code)
            outcome = PrintOutcome(
                False,
                QCoreApplication.translate(
                    "Receipt",
                    "The receipt could not be printed. Write the reference code down for the citizen.",
                ),
            )
        # A missing printer or a stopped queue is its own state (it clears when the printer is
        # plugged in or its queue restarted, at the next look), not a failure.
        self._last_failed = not outcome.ok and not self._missing and not self._stopped
        self.last_problem = None if outcome.ok else outcome.message
        if outcome.ok:
            self._unusable = False
            self._note(None)
        elif self._missing:
            self._note(faults.PrinterMissing(outcome.message))
        else:
            self._note(faults.PrinterFailed(outcome.message))
        return outcome

    def _note(self, fault: faults.PrinterFault | None) -> None:
        """Keep the fault board current, so the heartbeat tells IT about the printer."""
        if self._board is None:
            return
        if fault is None:
            self._board.clear(faults.PrinterFault.area)
        else:
            self._board.report(fault)

    def _missing_message(self) -> str:
        name = str(self._escpos) if self._escpos is not None else self._printer_name
        if name is None:
            return QCoreApplication.translate(
                "Receipt", "No printer is connected. Check the printer's cable and power."
            )
        message = QCoreApplication.translate(
            "Receipt",
            "The printer %1 is not connected. Check its cable and power, "
            "or ask IT to check the printer name in kiosk.toml.",
        ).replace("%1", name)
        return self._with_setup_problem(message)

    def _with_setup_problem(self, message: str) -> str:
        # What IT must install or allow is said in English, like a crash's line: it is for IT.
        return f"{message} ({self._setup_problem})" if self._setup_problem else message

    # --- ESC/POS ----------------------------------------------------------------------------

    def _look_for_escpos(self) -> None:
        assert self._escpos is not None
        try:
            escpos_printer.probe(self._escpos)
        except escpos_printer.EscposError as exc:
            message = self._escpos_trouble(exc)
            if self._unusable:
                self._note(faults.PrinterFailed(message))
        else:
            self._escpos_answered()

    def _to_escpos(self, receipt: Receipt) -> PrintOutcome:
        """The receipt as ESC/POS, straight to the printer. A printer that does not answer is
        missing; one that takes part of the receipt and stops has failed it."""
        assert self._escpos is not None
        data = escpos_printer.compose(receipt, wording(receipt))
        try:
            escpos_printer.send(self._escpos, data)
        except escpos_printer.EscposError as exc:
            log.warning("receipt %s not printed on %s: %s", receipt.reference_code, self._escpos, exc)
            return PrintOutcome(False, self._escpos_trouble(exc))
        self._escpos_answered()
        log.info("receipt %s sent to the ESC/POS printer %s", receipt.reference_code, self._escpos)
        return PrintOutcome(True, QCoreApplication.translate("Receipt", "The receipt is printing."))

    def _escpos_answered(self) -> None:
        self._missing = self._unusable = False
        self._setup_problem = None

    def _escpos_trouble(self, error: escpos_printer.EscposError) -> str:
        """Record the state `error` means; returns what staff read about it."""
        self._missing = isinstance(error, escpos_printer.NotReachable)
        self._unusable = isinstance(error, escpos_printer.NoAccess)
        setup = isinstance(error, escpos_printer.NoUsbSupport | escpos_printer.NoAccess)
        self._setup_problem = str(error) if setup else None
        if self._missing:
            return self._missing_message()
        if self._unusable:
            return self._with_setup_problem(
                QCoreApplication.translate(
                    "Receipt",
                    "The receipt could not be printed. Write the reference code down for the citizen.",
                )
            )
        return self._refused_message()  # it stopped midway: paper, cover, power

    # --- internals ---------------------------------------------------------------------------

    def _find_printer(self) -> QPrinterInfo | None:
        if self._printer_name is not None:
            info = QPrinterInfo.printerInfo(self._printer_name)
            return None if info.isNull() else info
        info = QPrinterInfo.defaultPrinter()
        if not info.isNull():
            return info
        available = QPrinterInfo.availablePrinters()
        return available[0] if available else None

    def _to_printer(self, receipt: Receipt) -> PrintOutcome:
        info = self._find_printer()
        self._missing = info is None
        self._stopped = False
        if info is None:
            log.warning("no printer for a receipt (configured name: %r)", self._printer_name)
            return PrintOutcome(False, self._missing_message())
        name = info.printerName()
        if info.state() == QPrinter.PrinterState.Error:
            # A stopped queue would keep the receipt and print it later, for someone else.
            self._stopped = True
            log.warning("printer %s reports an error; receipt %s not sent", name, receipt.reference_code)
            return PrintOutcome(False, self._stopped_message(name))
        before = cups_jobs.newest_id(name) if cups_jobs.available() else 0
        printer = QPrinter(info, QPrinter.PrinterMode.HighResolution)
        if not self._paint(printer, receipt):
            return PrintOutcome(False, self._refused_message())
        return self._confirm(name, printer.docName(), before, receipt.reference_code)

    def _confirm(self, name: str, title: str, before: int, reference_code: str) -> PrintOutcome:
        """Qt says "done" once CUPS has the document; ask CUPS what became of the job, for up
        to PRINT_CONFIRM_S (this runs on the print thread, never the GUI's)."""
        printing = PrintOutcome(True, QCoreApplication.translate("Receipt", "The receipt is printing."))
        if not cups_jobs.available():
            log.info("receipt %s sent to printer %s", reference_code, name)
            return printing
        deadline = time.monotonic() + PRINT_CONFIRM_S
        while True:
            job = cups_jobs.find(name, title, before)
            if job is None:
                # The job is created before Qt's end() returns. None: CUPS refused it (a queue
                # that rejects jobs), or it printed at once and a server that keeps no job
                # history (PreserveJobHistory No) forgot it already.
                if cups_jobs.accepting(name):
                    log.info("receipt %s printed on %s (its job is not kept)", reference_code, name)
                    return printing
                log.warning("printer %s took no job for receipt %s", name, reference_code)
                return PrintOutcome(False, self._refused_message())
            if job.state is cups_jobs.JobState.COMPLETED:
                log.info("receipt %s printed on %s (job %d)", reference_code, name, job.id)
                return printing
            if job.state in (cups_jobs.JobState.ABORTED, cups_jobs.JobState.CANCELED):
                log.warning("printer %s gave up job %d (receipt %s)", name, job.id, reference_code)
                return PrintOutcome(False, self._refused_message())
            stopped = job.state is cups_jobs.JobState.STOPPED or (
                QPrinterInfo.printerInfo(name).state() == QPrinter.PrinterState.Error
            )
            if stopped and job.state is not cups_jobs.JobState.PROCESSING:
                self._stopped = True
                cups_jobs.cancel(name, job.id)
                log.warning(
                    "printer %s stopped with job %d (receipt %s) waiting; cancelled it",
                    name,
                    job.id,
                    reference_code,
                )
                return PrintOutcome(False, self._stopped_message(name))
            if time.monotonic() >= deadline:
                # Still printing or queued behind another job on a working printer.
                log.info(
                    "receipt %s with printer %s (job %d, %s)", reference_code, name, job.id, job.state.name
                )
                return printing
            time.sleep(PRINT_POLL_S)

    def _refused_message(self) -> str:
        return QCoreApplication.translate(
            "Receipt", "The printer did not take the receipt. Check its paper and power, then reprint it."
        )

    def _stopped_message(self, name: str) -> str:
        return QCoreApplication.translate(
            "Receipt",
            "The printer %1 has stopped (out of paper, jammed or switched off). Check it; IT may have "
            "to restart its queue. Then reprint the receipt.",
        ).replace("%1", name)

    def _to_pdf(self, receipt: Receipt) -> PrintOutcome:
        assert self._pdf_dir is not None
        folder = self._pdf_dir
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"receipt-{_UNSAFE_IN_NAME.sub('_', receipt.reference_code)}-{stamp}.pdf"
        # Qt writes the file as it goes: a half-written one keeps a name nobody opens.
        partial = path.with_name(path.name + ".part")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial.touch()  # Qt's own failure to open the file is only a warning on the console
        except OSError as exc:
            log.warning("receipts cannot be written to %s: %s", folder, exc)
            return self._pdf_failed(folder, exc.strerror or str(exc))
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(partial))
        painted = self._paint(printer, receipt)
        try:
            if not painted or partial.stat().st_size == 0:
                partial.unlink(missing_ok=True)
                return self._pdf_failed(folder, "the PDF could not be written")
            os.replace(partial, path)
        except OSError as exc:
            log.warning("the receipt PDF %s could not be finished: %s", path, exc)
            return self._pdf_failed(folder, exc.strerror or str(exc))
        log.info("receipt %s written to %s", receipt.reference_code, path)
        message = QCoreApplication.translate("Receipt", "The receipt was saved as %1.").replace(
            "%1", path.name
        )
        return PrintOutcome(True, message, path)

    def _pdf_failed(self, folder: Path, reason: str) -> PrintOutcome:
        message = QCoreApplication.translate(
            "Receipt", "Receipts cannot be saved in %1 (%2). Ask IT to check the folder in kiosk.toml."
        )
        return PrintOutcome(False, message.replace("%1", str(folder)).replace("%2", reason))

    def _paint(self, printer: QPrinter, receipt: Receipt) -> bool:
        page, block = _geometry(receipt, self._paper)
        if self._paper == "80mm":
            size = QPageSize(
                page, QPageSize.Unit.Millimeter, "Receipt 80 mm", QPageSize.SizeMatchPolicy.ExactMatch
            )
        else:
            size = QPageSize(QPageSize.PageSizeId.A4)
        layout = QPageLayout(
            size, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Millimeter
        )
        # Our own margins: the driver's would move the receipt off the roll's printable width.
        printer.setFullPage(True)
        if not printer.setPageLayout(layout):
            log.warning("the printer refused the %s page; printing on its own paper size", self._paper)
        printer.setDocName(f"Receipt {receipt.reference_code}")
        printer.setCreator("GEA feedback kiosk")
        painter = QPainter()
        if not painter.begin(printer):
            log.warning(
                "the printer %s could not be opened", printer.printerName() or printer.outputFileName()
            )
            return False
        try:
            dots_per_mm = printer.resolution() / 25.4
            target = QRectF(
                block.x() * dots_per_mm,
                block.y() * dots_per_mm,
                block.width() * dots_per_mm,
                block.height() * dots_per_mm,
            )
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            _draw(painter, target, receipt)
        finally:
            ended = painter.end()
        return ended
