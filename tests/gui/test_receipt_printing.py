"""Receipts printed through Qt: to PDF for both papers, read back with a real PDF renderer and
a real QR decoder; the missing printer and the unwritable folder; the preview image."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import PySide6
import pytest
import zxingcpp
from PIL import Image
from PySide6.QtCore import QCoreApplication, QTranslator
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtPrintSupport import QPrinterInfo
from PySide6.QtWidgets import QApplication

from kiosk.receipt import Receipt, status_url
from kiosk.ui import printing
from kiosk.ui.printing import Paper, ReceiptPrinter, render_preview

CODE = "K0007-000123-7QX4"
BASE = "http://127.0.0.1:8123"
COMPLAINT_SENTENCE = (
    "Your complaint will reach the ministry even if this kiosk is offline. Keep this receipt to follow it up."
)
# pypdfium2 renders at 72 dpi times this: 288 dpi, about 11 px per QR module on the roll.
RENDER_SCALE = 4
MM_PER_PT = 25.4 / 72
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SPANISH = {
    "Complaint receipt": "Recibo de queja",
    "Reference code": "Código de referencia",
    COMPLAINT_SENTENCE: (
        "Su queja llegará al ministerio aunque este quiosco esté sin conexión. "
        "Guarde este recibo para darle seguimiento."
    ),
}


@pytest.fixture(autouse=True)
def app_font(qapp: QApplication) -> Iterator[None]:
    """A real font, as the kiosk ships one: with none, Qt draws every glyph as a box and the
    PDF holds no text to read back."""
    regular = DEJAVU / "DejaVuSans.ttf"
    assert regular.is_file(), "install fonts-dejavu-core (apt-get install -y fonts-dejavu-core)"
    font_id = QFontDatabase.addApplicationFont(str(regular))
    QFontDatabase.addApplicationFont(str(DEJAVU / "DejaVuSans-Bold.ttf"))
    before = qapp.font()
    qapp.setFont(QFont(QFontDatabase.applicationFontFamilies(font_id)[0]))
    yield
    qapp.setFont(before)


def _receipt(
    *,
    complaint: bool = True,
    entity_name: str = "Immigration Department, St. George's",
    base: str = BASE,
    ticket_number: str | None = None,
) -> Receipt:
    return Receipt(
        reference_code=CODE,
        status_url=status_url(base, CODE),
        service_name="Passport renewal",
        entity_name=entity_name,
        recorded_at=datetime(2026, 11, 22, 14, 5, tzinfo=UTC),
        complaint=complaint,
        rating=2,
        device_code="K0007",
        ticket_number=ticket_number,
    )


@dataclass(frozen=True)
class PdfPage:
    width_mm: float
    height_mm: float
    text: str  # whitespace collapsed, so wrapped sentences read whole
    image: Image.Image
    pages: int


def _read_pdf(path: Path) -> PdfPage:
    document = pdfium.PdfDocument(str(path))
    try:
        page = document[0]
        width, height = page.get_size()
        text = " ".join(page.get_textpage().get_text_range().split())
        image = page.render(scale=RENDER_SCALE).to_pil().convert("L")
        return PdfPage(width * MM_PER_PT, height * MM_PER_PT, text, image, len(document))
    finally:
        document.close()


def _decoded(image: object) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize(
    ("paper", "width_mm", "height_range_mm"), [("80mm", 80.0, (80.0, 200.0)), ("A4", 210.0, (297.0, 297.0))]
)
def test_pdf_receipt_opens_the_status_page(
    tmp_path: Path, paper: Paper, width_mm: float, height_range_mm: tuple[float, float]
) -> None:
    receipt = _receipt()
    printer = ReceiptPrinter(None, tmp_path / "receipts", paper)

    outcome = printer.print_receipt(receipt)

    assert outcome.ok, outcome.message
    assert outcome.pdf_path is not None
    assert outcome.pdf_path.parent == tmp_path / "receipts"
    assert outcome.pdf_path.name.startswith(f"receipt-{CODE}-")
    assert outcome.pdf_path.name in outcome.message
    assert [p.name for p in (tmp_path / "receipts").iterdir()] == [outcome.pdf_path.name]  # no .part left
    assert printer.state() == "ok"
    assert printer.heartbeat_state() == "ok"

    page = _read_pdf(outcome.pdf_path)
    assert page.pages == 1
    # Qt's PDF writer rounds the page to whole points (0.35 mm).
    assert page.width_mm == pytest.approx(width_mm, abs=0.5)
    assert height_range_mm[0] - 0.5 <= page.height_mm <= height_range_mm[1] + 0.5
    assert _decoded(page.image) == [receipt.status_url]
    for expected in (CODE, "Complaint receipt", "Passport renewal", receipt.status_url, COMPLAINT_SENTENCE):
        assert expected in page.text
    assert "2026-11-22" in page.text  # the local date (UTC here or a neighbouring day would fail the QR)


def test_roll_qr_is_large_enough_and_text_stays_on_the_printable_width(tmp_path: Path) -> None:
    long_name = "Ministry of Infrastructure Development, Public Utilities, Energy, Transport and Ports"
    receipt = _receipt(entity_name=long_name, base="https://feedback.gov.gd/a/very/long/path/for/a/proxy")
    outcome = ReceiptPrinter(None, tmp_path, "80mm").print_receipt(receipt)
    assert outcome.ok, outcome.message
    assert outcome.pdf_path is not None

    page = _read_pdf(outcome.pdf_path)
    [barcode] = zxingcpp.read_barcodes(page.image)
    assert barcode.text == receipt.status_url
    px_per_mm = page.image.width / page.width_mm
    qr_width_mm = (barcode.position.top_right.x - barcode.position.top_left.x) / px_per_mm
    assert qr_width_mm >= 30, f"the QR code is {qr_width_mm:.1f} mm wide"
    # The long name wraps instead of running off the 72 mm the roll printer can reach.
    assert " ".join(long_name.split()) in page.text
    margin_px = int(3.5 * px_per_mm)
    width, height = page.image.size
    strips = {"left": (0, 0, margin_px, height), "right": (width - margin_px, 0, width, height)}
    for side, strip in strips.items():
        darkest, _ = page.image.crop(strip).getextrema()
        assert not isinstance(darkest, tuple)  # one band: numbers, not a pair per band
        assert darkest > 200, f"ink in the {side} 3.5 mm, where a roll printer cannot print"


def test_feedback_receipt_says_feedback_and_shows_the_ticket(tmp_path: Path) -> None:
    receipt = _receipt(complaint=False, ticket_number="GD-2026-000042")
    outcome = ReceiptPrinter(None, tmp_path, "80mm").print_receipt(receipt)
    assert outcome.ok, outcome.message
    assert outcome.pdf_path is not None

    page = _read_pdf(outcome.pdf_path)
    assert "Feedback receipt" in page.text
    assert "Complaint receipt" not in page.text
    assert COMPLAINT_SENTENCE not in page.text
    assert "GD-2026-000042" in page.text
    assert _decoded(page.image) == [receipt.status_url]


def test_a_reprint_is_a_new_file(tmp_path: Path) -> None:
    printer = ReceiptPrinter(None, tmp_path, "80mm")
    first = printer.print_receipt(_receipt())
    second = printer.print_receipt(_receipt())
    assert first.ok
    assert second.ok
    assert first.pdf_path != second.pdf_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (first.pdf_path, second.pdf_path) if p is not None
    )


def test_missing_named_printer_is_reported_not_raised(tmp_path: Path) -> None:
    printer = ReceiptPrinter("GEA No Such Printer", None, "80mm")
    assert printer.state() == "missing"

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert outcome.pdf_path is None
    assert "GEA No Such Printer" in outcome.message
    assert "not connected" in outcome.message
    assert printer.state() == "missing"
    assert printer.heartbeat_state() == "error"  # the server's word for a kiosk that cannot print
    assert list(tmp_path.iterdir()) == []


def test_no_printer_at_all_is_reported_not_raised() -> None:
    if QPrinterInfo.availablePrinters():
        pytest.skip("this machine has a printer; the test would print on it")
    printer = ReceiptPrinter(None, None, "A4")
    outcome = printer.print_receipt(_receipt())
    assert not outcome.ok
    assert outcome.message.startswith("No printer is connected")
    assert printer.state() == "missing"


def test_pdf_folder_under_a_file_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where IT meant a folder")
    printer = ReceiptPrinter(None, blocker / "receipts", "80mm")

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert outcome.pdf_path is None
    assert str(blocker / "receipts") in outcome.message
    assert printer.state() == "error"
    assert printer.heartbeat_state() == "error"
    assert blocker.read_text() == "a file where IT meant a folder"


def test_pdf_folder_that_is_a_file_shows_before_printing(tmp_path: Path) -> None:
    blocker = tmp_path / "receipts"
    blocker.write_text("")
    printer = ReceiptPrinter(None, blocker, "80mm")
    assert printer.state() == "error"
    assert not printer.print_receipt(_receipt()).ok
    # IT fixes it: the next receipt prints and the state says so.
    blocker.unlink()
    assert printer.print_receipt(_receipt()).ok
    assert printer.state() == "ok"


@pytest.mark.parametrize(("paper", "width_px"), [("80mm", 640), ("A4", 900)])
def test_preview_shows_the_same_qr(paper: Paper, width_px: int) -> None:
    receipt = _receipt()
    image = render_preview(receipt, paper, width_px)
    assert image.width() == width_px
    assert image.height() > width_px if paper == "80mm" else image.height() < width_px * 297 / 210
    assert _decoded(image) == [receipt.status_url]


def test_receipt_text_follows_the_installed_translation(tmp_path: Path) -> None:
    """Qt's own tools find every receipt string in the "Receipt" context, and a catalogue
    built from them changes the printed text (the lead's Spanish one works the same way)."""
    qt_tools = Path(PySide6.__file__).parent
    ts_file, qm_file = tmp_path / "receipt_es.ts", tmp_path / "receipt_es.qm"
    subprocess.run([qt_tools / "lupdate", printing.__file__, "-ts", ts_file], check=True, capture_output=True)
    catalogue = ElementTree.parse(ts_file)
    messages = {m.findtext("source"): m for m in catalogue.iterfind("context[name='Receipt']/message")}
    assert {"Complaint receipt", "Feedback receipt", "Reference code", COMPLAINT_SENTENCE} <= messages.keys()
    for source, target in SPANISH.items():
        translation = messages[source].find("translation")
        assert translation is not None
        translation.text = target
        translation.attrib.pop("type", None)  # "unfinished" ones are left out of the .qm
    catalogue.write(ts_file, encoding="utf-8", xml_declaration=True)
    subprocess.run([qt_tools / "lrelease", ts_file, "-qm", qm_file], check=True, capture_output=True)
    translator = QTranslator()
    assert translator.load(str(qm_file))

    assert QCoreApplication.installTranslator(translator)
    try:
        outcome = ReceiptPrinter(None, tmp_path / "pdf", "80mm").print_receipt(_receipt())
    finally:
        QCoreApplication.removeTranslator(translator)

    assert outcome.ok, outcome.message
    assert outcome.pdf_path is not None
    text = _read_pdf(outcome.pdf_path).text
    for target in SPANISH.values():
        assert target in text
    assert "Complaint receipt" not in text
