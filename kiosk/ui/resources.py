"""Where the kiosk's stylesheet, icons, font and translations are, and how they are loaded.

`resources/` sits beside the packages in a checkout and inside the PyInstaller bundle
(`sys._MEIPASS`), so both find it the same way.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase, QIcon
from PySide6.QtWidgets import QApplication

FONT_FAMILY_FALLBACK = "DejaVu Sans"
_FONT_FILES = ("AtkinsonHyperlegible-Regular.ttf", "AtkinsonHyperlegible-Bold.ttf")
_FONT_SIZE = re.compile(r"font-size:\s*(\d+)px")


def root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def icon_path(name: str) -> Path:
    return root() / "icons" / name


def icon(name: str) -> QIcon:
    return QIcon(str(icon_path(name)))


def load_fonts(app: QApplication) -> str:
    """Load the shipped font and make it the application's, so every machine (and every
    screenshot) shows the same letters; returns the family name."""
    family = FONT_FAMILY_FALLBACK
    for name in _FONT_FILES:
        font_id = QFontDatabase.addApplicationFont(str(root() / name))
        families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        if families:
            family = families[0]
    font = QFont(family)
    font.setPixelSize(26)
    app.setFont(font)
    return family


def stylesheet(high_contrast: bool, text_scale: float) -> str:
    name = "kiosk-high-contrast.qss" if high_contrast else "kiosk.qss"
    text = (root() / name).read_text("utf-8")
    if text_scale != 1.0:
        text = _FONT_SIZE.sub(lambda m: f"font-size: {round(int(m.group(1)) * text_scale)}px", text)
    return text


def translation_file(language: str) -> Path:
    return root() / "i18n" / f"kiosk_{language}.qm"
