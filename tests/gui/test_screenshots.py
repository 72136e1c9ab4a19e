"""`gea-kiosk screenshots`: every screen and state renders, in both languages, at 1920x1080."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from kiosk.ui import screenshots
from kiosk.ui.i18n import LanguageSwitch


def test_every_screen_and_state_is_written(tmp_path: Path) -> None:
    try:
        written = screenshots.take(tmp_path)
    finally:
        LanguageSwitch().set_language("en")
    names = {path.name for path in written}
    for state in screenshots.STATES:
        assert {f"{state}-en.png", f"{state}-es.png"} <= names
    assert "08-receipt-en-high-contrast.png" in names
    for path in written:
        with Image.open(path) as image:
            assert image.size == (1920, 1080), path.name
            # A screen that failed to draw is one flat colour.
            assert len(image.convert("L").getcolors(maxcolors=1 << 16) or ()) > 8, path.name
