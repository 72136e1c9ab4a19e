"""What a printed receipt says and its QR code, in plain Python: the Qt layout that prints it
lives in kiosk/ui/printing.py (ARCHITECTURE section 7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage

# The server's phone status page (server_sync_api/api/routes/status.py).
STATUS_PATH: Final = "/s/"
# The date on a receipt: numeric, so it reads the same in every language and cannot be taken
# for another day (03/04 is March in one country and April in the next).
TIME_FORMAT: Final = "%Y-%m-%d %H:%M"


def status_url(public_base_url: str, reference_code: str) -> str:
    """The address the receipt's QR code opens: the server's status page for this code."""
    return f"{public_base_url.rstrip('/')}{STATUS_PATH}{quote(reference_code, safe='')}"


@dataclass(frozen=True)
class Receipt:
    reference_code: str
    status_url: str
    service_name: str
    entity_name: str
    # When the citizen gave the rating; must be aware, shown in the kiosk's local time.
    recorded_at: datetime
    complaint: bool
    rating: int | None
    device_code: str
    # Known once the server has opened a ticket for it (a reprint from staff mode).
    ticket_number: str | None = None

    def __post_init__(self) -> None:
        if self.recorded_at.tzinfo is None or self.recorded_at.utcoffset() is None:
            raise ValueError("recorded_at must carry its time zone")

    def local_time_text(self) -> str:
        """recorded_at in the kiosk's local time, as the receipt prints it."""
        return self.recorded_at.astimezone().strftime(TIME_FORMAT)


def qr_image(url: str, *, box_size: int, border: int = 4) -> Image.Image:
    """The QR code of `url`, black on white, one bit per pixel, `box_size` pixels per module
    and a quiet zone of `border` modules (4 is the standard's minimum). Error correction M
    survives a crease or a smudge on thermal paper without making the code much denser."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(url)
    code.make(fit=True)
    made = code.make_image(image_factory=PilImage, fill_color="black", back_color="white")
    return made.get_image().convert("1")
