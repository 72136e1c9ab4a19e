"""Where the kiosk's stylesheet, icons, font and translations are, and how they are loaded.

`resources/` is not a Python package (ARCHITECTURE section 3). The wheel carries it as
`kiosk/resources` (pyproject.toml) and so does the bundle (installer/gea-kiosk.spec), where
`importlib.resources` finds it inside the installed package; a checkout (an editable install
included) keeps it beside the package. Qt opens files by name, so the loader needs a real
folder: a kiosk imported from a zip file is not supported and says so.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase, QIcon
from PySide6.QtWidgets import QApplication

from kiosk import faults

FONT_FAMILY_FALLBACK = "DejaVu Sans"
_FONT_FILES = ("AtkinsonHyperlegible-Regular.ttf", "AtkinsonHyperlegible-Bold.ttf")
_FONT_SIZE = re.compile(r"font-size:\s*(\d+)px")


class ResourcesMissing(faults.LocalFault):
    """The kiosk's resources are not where an installed kiosk or a checkout keeps them: a
    damaged installation, said as such rather than as a traceback."""

    code = "resources_missing"


@functools.cache
def root() -> Path:
    package = importlib.resources.files("kiosk")
    if not isinstance(package, Path):
        raise ResourcesMissing(f"the kiosk package is not a folder on disk ({package}): install its wheel")
    for folder in (package / "resources", package.parent / "resources"):
        if (folder / "kiosk.qss").is_file():
            return folder
    raise ResourcesMissing(
        f"no kiosk resources in {package / 'resources'} (installed) or {package.parent / 'resources'} "
        "(checkout): reinstall the kiosk"
    )


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
