"""A printable A4 poster for a service's QR code (issue 15), drawn from plain values.

No database here: services/qr_codes.py finds or registers the code, and `gea-server qr-poster`
(commands/qr_poster.py) passes what the poster says. `compose` lays the page out (what is
written where, in which size), `draw` paints it and `write_pdf` saves it: one page at 300 dpi,
2480 x 3508 pixels, so it prints at A4 on any printer.

The page is black on white, one bit per pixel (a printer makes no grey, and the PDF keeps the
QR code's edges exact, compressed as a fax is): the title, the service's name, the office's,
the place when there is one, the QR code, what to do (two short sentences) and the address in
text for those who type it. The code is at least QR_MIN_MM wide with its quiet zone kept, error
correction Q (a quarter of it may be scuffed, torn or taped over); long names wrap, then shrink,
and what still does not fit ends in an ellipsis, so nothing runs off the page.

Letters: Atkinson Hyperlegible, the kiosk's font (resources/, in the wheel as kiosk/resources),
drawn for readers with low vision, so a poster needs no system font. Pillow's own bundled font
(`ImageFont.load_default`) was not enough: it has no accented letters, and á, ñ or ¿ printed
as boxes. `missing_glyphs` names the letters of a name the font lacks (they print as boxes).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_Q

Language = Literal["en", "es"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "es")

DPI: Final = 300
PAGE_PX: Final = (2480, 3508)  # A4, 210 x 297 mm, at 300 dpi
MARGIN_PX: Final = 177  # 15 mm: inside what office printers can reach
# The code's modules, quiet zone not counted: 12 cm reads from a few metres away.
QR_MIN_MM: Final = 120
QR_MAX_MM: Final = 150
QR_QUIET_MODULES: Final = 4  # the standard's minimum
ELLIPSIS: Final = "\u2026"
FONT_FILES: Final = {"regular": "AtkinsonHyperlegible-Regular.ttf", "bold": "AtkinsonHyperlegible-Bold.ttf"}

Weight = Literal["regular", "bold"]


@dataclass(frozen=True)
class Words:
    title: str
    instruction: str
    type_it: str


# Every word the poster prints that is not a name or the address; a line break is where a
# sentence starts a line of its own.
WORDS: Final[dict[Language, Words]] = {
    "en": Words(
        title="How was our service?",
        instruction="Scan with your phone’s camera to rate this service.\nNo app or account needed.",
        type_it="Or type this address:",
    ),
    "es": Words(
        title="¿Cómo fue nuestro servicio?",
        instruction=(
            "Escanee con la cámara de su teléfono para calificar este servicio.\n"
            "No necesita aplicación ni cuenta."
        ),
        type_it="O escriba esta dirección:",
    ),
}


@dataclass(frozen=True)
class Poster:
    """What one poster says; `url` is what its QR code opens."""

    url: str
    service_name: str
    entity_name: str
    location: str | None
    language: Language = "en"


@dataclass(frozen=True)
class Style:
    """How one kind of text is set: the size it starts at, the smallest it may shrink to, and
    the most lines it may take (sizes in pixels at 300 dpi: 100 px is a 24-point letter)."""

    weight: Weight
    size: int
    min_size: int
    max_lines: int
    break_anywhere: bool = False  # the address: no spaces to wrap at, and never cut short


@dataclass(frozen=True)
class Styles:
    title: Style
    service: Style
    office: Style
    place: Style
    instruction: Style
    type_it: Style
    address: Style


# Large letters first; when long names leave the code too little room, smaller and fewer lines.
ROOMY: Final = Styles(
    title=Style("bold", 150, 110, 2),
    service=Style("bold", 120, 84, 3),
    office=Style("regular", 84, 64, 2),
    place=Style("regular", 72, 58, 2),
    instruction=Style("bold", 76, 60, 3),
    type_it=Style("regular", 60, 50, 1),
    address=Style("bold", 96, 56, 2, break_anywhere=True),
)
SNUG: Final = Styles(
    title=Style("bold", 130, 100, 1),
    service=Style("bold", 100, 68, 3),
    office=Style("regular", 72, 56, 2),
    place=Style("regular", 64, 52, 2),
    instruction=Style("bold", 66, 56, 3),
    type_it=Style("regular", 56, 48, 1),
    address=Style("bold", 84, 48, 2, break_anywhere=True),
)
COMPACT: Final = Styles(
    title=Style("bold", 120, 96, 1),
    service=Style("bold", 90, 72, 2),
    office=Style("regular", 68, 56, 1),
    place=Style("regular", 62, 52, 1),
    instruction=Style("bold", 62, 54, 3),
    type_it=Style("regular", 54, 48, 1),
    address=Style("bold", 80, 48, 2, break_anywhere=True),
)

LINE_SPACING: Final = 1.18  # line height over letter size
RULE_PX: Final = 12  # the bar under the title
GAP_PX: Final = 40  # the least space between two blocks


@dataclass(frozen=True)
class TextBlock:
    lines: tuple[str, ...]
    weight: Weight
    size: int
    top: int  # pixels from the top of the page
    line_height: int

    @property
    def height(self) -> int:
        return self.line_height * len(self.lines)


@dataclass(frozen=True)
class QrBlock:
    image: Image.Image  # with its quiet zone
    left: int
    top: int
    modules: int  # the code's width in modules, quiet zone not counted
    box_px: int  # pixels per module

    @property
    def code_mm(self) -> float:
        """The code's printed width, quiet zone not counted."""
        return self.modules * self.box_px / DPI * 25.4


@dataclass(frozen=True)
class Page:
    """A laid-out poster: its text blocks top to bottom and where the code goes."""

    texts: tuple[TextBlock, ...]
    qr: QrBlock
    title: str


class FontMissing(Exception):
    """The poster font is not where an installation or a checkout keeps it."""


@functools.cache
def font_path(weight: Weight) -> Path:
    """The kiosk's font file: installed, the wheel carries resources/ as kiosk/resources (as
    kiosk/ui/resources.root finds it); in a checkout it sits beside the package."""
    name = FONT_FILES[weight]
    try:
        package = importlib.resources.files("kiosk")
    except ModuleNotFoundError:
        raise FontMissing(
            f"the poster font {name} comes with the kiosk package, not installed here"
        ) from None
    if isinstance(package, Path):
        for folder in (package / "resources", package.parent / "resources"):
            if (folder / name).is_file():
                return folder / name
    raise FontMissing(f"the poster font {name} is not installed with the package ({package}): reinstall it")


@functools.cache
def font(weight: Weight, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: the same letters and widths on every machine, with or without libraqm.
    return ImageFont.truetype(str(font_path(weight)), size, layout_engine=ImageFont.Layout.BASIC)


def missing_glyphs(text: str) -> str:
    """The letters of `text` the poster font does not have (each prints as a box), in order."""
    regular = font("regular", 40)
    box = bytes(regular.getmask("\ue000"))  # a private-use character: the font's "missing" box
    missing = dict.fromkeys(
        ch for ch in text if ch.isprintable() and not ch.isspace() and bytes(regular.getmask(ch)) == box
    )
    return "".join(missing)


@functools.lru_cache(maxsize=32)
def qr_modules(url: str) -> tuple[tuple[bool, ...], ...]:
    """The code of `url` as rows of modules (True is dark), without its quiet zone: the smallest
    version that holds it at error correction Q."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=0)
    code.add_data(url)
    code.make(fit=True)
    return tuple(tuple(bool(module) for module in row) for row in code.get_matrix())


def qr_image(url: str, box_px: int) -> Image.Image:
    """The code of `url` with its quiet zone, one bit per pixel, `box_px` pixels per module."""
    modules = qr_modules(url)
    side = len(modules) + 2 * QR_QUIET_MODULES
    small = Image.new("1", (side, side), 1)
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                small.putpixel((x + QR_QUIET_MODULES, y + QR_QUIET_MODULES), 0)
    return small.resize((side * box_px, side * box_px), Image.Resampling.NEAREST)


def _px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def _width(text: str, weight: Weight, size: int) -> float:
    return font(weight, size).getlength(text)


def _wrap(text: str, style: Style, size: int, width: int) -> list[str]:
    """Greedy wrapping at spaces; a word wider than the line is cut where it must be."""
    if style.break_anywhere:
        return _wrap_address(text, style.weight, size, width)
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if _width(candidate, style.weight, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while (fit := _longest_prefix(line, style.weight, size, width)) < len(line):
            lines.append(line[:fit])  # one word wider than the line: cut
            line = line[fit:]
    if line:
        lines.append(line)
    return lines


def _wrap_address(text: str, weight: Weight, size: int, width: int) -> list[str]:
    """An address has no spaces: it is cut after the last '/', '.' or '-' that fits, so each
    part still reads as part of an address (anywhere, when there is none in its second half)."""
    lines: list[str] = []
    rest = text
    while (fit := _longest_prefix(rest, weight, size, width)) < len(rest):
        cut = max(rest.rfind(mark, 0, fit) for mark in "/.-") + 1
        if cut <= fit // 2:
            cut = fit
        lines.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        lines.append(rest)
    return lines


def _longest_prefix(text: str, weight: Weight, size: int, width: float) -> int:
    """How many leading characters of `text` fit in `width` (one at least), by halving."""
    if _width(text, weight, size) <= width:
        return len(text)
    low, high = 1, len(text) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _width(text[:middle], weight, size) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _set(text: str, style: Style, width: int) -> tuple[list[str], int] | None:
    """`text` in lines no wider than `width`, at the largest size that needs at most
    `max_lines` (found by halving: a larger size never needs fewer lines); else at the smallest, the
    last line cut short with an ellipsis; but an address is never cut: None. A line break in
    `text` is kept (the words' sentences); lines are balanced, so no word is left alone."""
    paragraphs = [" ".join(part.split()) for part in text.split("\n")]

    def count(size: int) -> int:
        return sum(len(_wrap(paragraph, style, size, width)) for paragraph in paragraphs)

    if count(style.min_size) <= style.max_lines:
        low, high = style.min_size, style.size  # fits at low; the answer is in [low, high]
        while low < high:
            middle = (low + high + 1) // 2
            if count(middle) <= style.max_lines:
                low = middle
            else:
                high = middle - 1
        return [line for p in paragraphs for line in _balanced(p, style, low, width)], low
    if style.break_anywhere:
        return None
    size = style.min_size
    lines = [line for p in paragraphs for line in _wrap(p, style, size, width)][: style.max_lines]
    last = lines[-1]
    while last and _width(last + ELLIPSIS, style.weight, size) > width:
        # Back to the previous word (to the previous letter in a single long word).
        last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
    lines[-1] = last.rstrip() + ELLIPSIS
    return lines, size


def _balanced(text: str, style: Style, size: int, width: int) -> list[str]:
    """Wrapped in as few lines as at `width`, each as short as that allows (found by halving:
    the narrowest width that still needs no more lines)."""
    lines = _wrap(text, style, size, width)
    if len(lines) < 2 or style.break_anywhere:
        return lines
    low, high = width // len(lines), width
    while low < high:
        middle = (low + high) // 2
        if len(_wrap(text, style, size, middle)) <= len(lines):
            high = middle
        else:
            low = middle + 1
    return _wrap(text, style, size, high)


class AddressTooLong(ValueError):
    """The address makes a code too dense to print QR_MIN_MM wide with the words around it, or
    does not fit in its lines at the smallest size."""


def compose(poster: Poster) -> Page:
    """Where everything goes: the names at the top, the code below them as large as the page
    allows (QR_MIN_MM to QR_MAX_MM wide), what to do and the address at the bottom."""
    for styles in (ROOMY, SNUG, COMPACT):
        page = _layout(poster, styles)
        if page is not None:
            return page
    raise AddressTooLong(
        f"the address {poster.url} is too long for a poster (its code would be under {QR_MIN_MM} mm "
        "wide, or the address longer than two lines): shorten GEA_SERVER_PUBLIC_BASE_URL"
    )


_Set = tuple[list[str], int, Style]


def _layout(poster: Poster, styles: Styles) -> Page | None:
    """The page in these styles, or None when they leave the code less than QR_MIN_MM or the
    address does not fit in its lines."""
    words = WORDS[poster.language]
    page_w, page_h = PAGE_PX
    width = page_w - 2 * MARGIN_PX
    head = [
        (words.title, styles.title),
        (_one_line(poster.service_name), styles.service),
        (_one_line(poster.entity_name), styles.office),
    ]
    if poster.location and poster.location.strip():
        head.append((_one_line(poster.location), styles.place))
    foot = [
        (words.instruction, styles.instruction),
        (words.type_it, styles.type_it),
        (poster.url, styles.address),
    ]
    head_set: list[_Set] = []
    foot_set: list[_Set] = []
    for blocks, wanted in ((head_set, head), (foot_set, foot)):
        for text, style in wanted:
            done = _set(text, style, width)
            if done is None:
                return None
            blocks.append((*done, style))
    # Below each block, the space before the next: the title's holds the bar; "Or type this
    # address:" stays close to the address.
    head_gaps = [2 * GAP_PX + RULE_PX] + [GAP_PX] * (len(head_set) - 1)
    foot_gaps = [GAP_PX, GAP_PX // 2, 0]
    used = sum(_height(block) for block in head_set + foot_set) + sum(head_gaps) + sum(foot_gaps)
    # The code takes what is left, with at least half a gap above and below its quiet zone.
    room = page_h - 2 * MARGIN_PX - used - GAP_PX
    modules = len(qr_modules(poster.url))
    total_modules = modules + 2 * QR_QUIET_MODULES
    box_px = min(room // total_modules, _px(QR_MAX_MM) // modules, width // total_modules)
    if box_px * modules < _px(QR_MIN_MM):
        return None
    image = qr_image(poster.url, box_px)
    spare = room - image.height  # shared equally above and below the code
    texts: list[TextBlock] = []
    top = MARGIN_PX
    for block, gap in zip(head_set, head_gaps, strict=True):
        texts.append(_block(block, top))
        top += _height(block) + gap
    qr_top = top + GAP_PX // 2 + spare // 2
    qr = QrBlock(image, (page_w - image.width) // 2, qr_top, modules, box_px)
    top = qr_top + image.height + (GAP_PX - GAP_PX // 2) + (spare - spare // 2)
    for block, gap in zip(foot_set, foot_gaps, strict=True):
        texts.append(_block(block, top))
        top += _height(block) + gap
    assert top <= page_h - MARGIN_PX, "the layout's sums are wrong"
    return Page(tuple(texts), qr, f"{words.title} {_one_line(poster.service_name)}")


def _line_height(size: int) -> int:
    return round(size * LINE_SPACING)


def _height(block: _Set) -> int:
    lines, size, _ = block
    return _line_height(size) * len(lines)


def _block(block: _Set, top: int) -> TextBlock:
    lines, size, style = block
    return TextBlock(tuple(lines), style.weight, size, top, _line_height(size))


def _one_line(name: str) -> str:
    """A name as one run of words: its own line breaks and tabs are spaces."""
    return " ".join(name.split())


def draw(page: Page) -> Image.Image:
    """The page as a one-bit image, 300 dpi."""
    canvas = Image.new("L", PAGE_PX, 255)
    pen = ImageDraw.Draw(canvas)
    for index, block in enumerate(page.texts):
        face = font(block.weight, block.size)
        for number, line in enumerate(block.lines):
            # Centred; "ms" anchors at the baseline, so lines of any letters sit evenly.
            baseline = block.top + number * block.line_height + face.getmetrics()[0]
            pen.text((PAGE_PX[0] // 2, baseline), line, font=face, fill=0, anchor="ms")
        if index == 0:  # a bar under the title
            bar_top = block.top + block.height + GAP_PX
            pen.rectangle((MARGIN_PX, bar_top, PAGE_PX[0] - MARGIN_PX - 1, bar_top + RULE_PX - 1), fill=0)
    canvas.paste(page.qr.image.convert("L"), (page.qr.left, page.qr.top))
    # Letters were drawn smooth; at 300 dpi a plain threshold keeps their shapes.
    return canvas.point(lambda value: 255 if value >= 128 else 0).convert("1", dither=Image.Dither.NONE)


def write_pdf(poster: Poster, path: Path) -> Page:
    """Draw the poster and save it as a one-page A4 PDF at `path` (through a file beside it,
    renamed when complete, so a failure never leaves half a poster under that name)."""
    page = compose(poster)
    image = draw(page)
    part = path.with_name(f".{path.name}.part")
    try:
        image.save(part, "PDF", resolution=DPI, title=page.title, creator="gea-server qr-poster")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return page
