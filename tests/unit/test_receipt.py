"""The receipt's data and QR code, without Qt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import zxingcpp

from kiosk.receipt import Receipt, qr_image, status_url

CODE = "K0007-000123-7QX4"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://feedback.gov.gd", f"https://feedback.gov.gd/s/{CODE}"),
        ("https://feedback.gov.gd/", f"https://feedback.gov.gd/s/{CODE}"),
        ("https://feedback.gov.gd//", f"https://feedback.gov.gd/s/{CODE}"),
        ("http://127.0.0.1:8123/gea/", f"http://127.0.0.1:8123/gea/s/{CODE}"),
    ],
)
def test_status_url_joins_base_and_code(base: str, expected: str) -> None:
    assert status_url(base, CODE) == expected


def test_status_url_cannot_be_steered_by_the_code() -> None:
    # Codes come from our own outbox, but a typed-in one must still stay one path segment.
    assert (
        status_url("https://feedback.gov.gd", "../admin?x=1")
        == "https://feedback.gov.gd/s/..%2Fadmin%3Fx%3D1"
    )


@pytest.mark.parametrize("box_size", [1, 3, 8])
def test_qr_image_decodes_to_the_url(box_size: int) -> None:
    url = status_url("https://feedback.gov.gd", CODE)
    image = qr_image(url, box_size=box_size)
    # box_size 1 is too small for a camera-style decoder; upscale without smoothing.
    if box_size == 1:
        image = image.resize((image.width * 4, image.height * 4))
    found = zxingcpp.read_barcodes(image)
    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.QRCode, url)]


def test_qr_image_is_one_bit_black_on_white_with_its_quiet_zone() -> None:
    image = qr_image("https://feedback.gov.gd/s/" + CODE, box_size=2, border=4)
    assert image.mode == "1"
    assert image.width == image.height
    colours = image.getcolors()
    assert colours is not None
    assert {colour for _, colour in colours} == {0, 255}
    # The quiet zone (4 modules of 2 px) is white all round; the finder pattern starts inside it.
    assert all(image.getpixel((x, y)) == 255 for x in range(8) for y in range(image.height))
    assert image.getpixel((8, 8)) == 0


def test_qr_image_uses_error_correction_m() -> None:
    found = zxingcpp.read_barcodes(qr_image("https://feedback.gov.gd/s/" + CODE, box_size=4))
    assert found[0].ec_level == "M"


def _receipt(recorded_at: datetime) -> Receipt:
    return Receipt(
        reference_code=CODE,
        status_url=status_url("https://feedback.gov.gd", CODE),
        service_name="Passport renewal",
        entity_name="Immigration Department",
        recorded_at=recorded_at,
        complaint=True,
        rating=1,
        device_code="K0007",
        ticket_number=None,
    )


def test_receipt_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="time zone"):
        _receipt(datetime(2026, 11, 22, 10, 5))


def test_receipt_time_is_the_same_instant_in_local_time() -> None:
    recorded = datetime(2026, 11, 22, 14, 5, tzinfo=timezone(timedelta(hours=-4)))
    text = _receipt(recorded).local_time_text()
    shown = datetime.strptime(text, "%Y-%m-%d %H:%M").astimezone()  # read back as local time
    assert shown.astimezone(UTC) == recorded.astimezone(UTC)
