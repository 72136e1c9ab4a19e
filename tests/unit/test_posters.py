"""The poster as printed: a one-page A4 PDF whose QR code, read back by a real PDF renderer and a
real decoder, opens exactly its address; the code at least 12 cm wide with its quiet zone white;
every line inside the margins and clear of the code, however long the names; the words of the
language asked for, in letters the font has (no boxes for á, ñ or ¿)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFont

from server_sync_api import posters
from server_sync_api.commands import qr_poster
from tests.helpers.cups import read_pdf

URL = "https://feedback.gov.gd/q/7QX4K2M9"
PASSPORTS = posters.Poster(
    URL, "Passport Application and Renewal", "Immigration and Passport Office", "Counter 1", "en"
)
LONG_URL = "https://feedback-portal.ministry-of-national-security.gov.gd/public/q/7QX4K2M9"
LONGEST = posters.Poster(  # every name at its column's limit (255), a long address, Spanish
    LONG_URL,
    " ".join(["Registration of births, deaths and marriages with certified copies"] * 4)[:255],
    ("Ministry of Legal Affairs, Labour and Consumer Affairs " * 5)[:255],
    ("Hillsborough Revenue Office, Carriacou, upstairs beside the post office " * 4)[:255],
    "es",
)
UNBROKEN = posters.Poster("https://x.gd/q/ABCDEFGH", "A" * 255, "B" * 255, "C" * 255, "en")
WIDTH = posters.PAGE_PX[0] - 2 * posters.MARGIN_PX


def printed(page: posters.Page) -> str:
    return " ".join(line for block in page.texts for line in block.lines)


@pytest.mark.parametrize("language", posters.LANGUAGES)
def test_the_pdf_is_one_a4_page_whose_code_opens_the_address(
    tmp_path: Path, language: posters.Language
) -> None:
    poster = posters.Poster(URL, "Solicitud de pasaporte", "Oficina de Inmigración", None, language)

    posters.write_pdf(poster, tmp_path / "poster.pdf")

    pdf = read_pdf(tmp_path / "poster.pdf")
    assert pdf.pages == 1
    assert pdf.width_mm == pytest.approx(210, abs=0.5)
    assert pdf.height_mm == pytest.approx(297, abs=0.5)
    assert pdf.qr_codes == [URL]
    assert [p.name for p in tmp_path.iterdir()] == ["poster.pdf"]  # no part file left behind


def test_long_names_and_a_long_address_still_give_a_code_that_reads(tmp_path: Path) -> None:
    posters.write_pdf(LONGEST, tmp_path / "poster.pdf")

    assert read_pdf(tmp_path / "poster.pdf").qr_codes == [LONG_URL]


@pytest.mark.parametrize("poster", [PASSPORTS, LONGEST, UNBROKEN], ids=["usual", "longest", "unbroken"])
def test_the_code_is_at_least_12_cm_and_keeps_a_white_quiet_zone(poster: posters.Poster) -> None:
    page = posters.compose(poster)
    image = posters.draw(page)

    assert page.qr.code_mm >= posters.QR_MIN_MM
    quiet = posters.QR_QUIET_MODULES * page.qr.box_px
    left, top, side = page.qr.left, page.qr.top, page.qr.image.width
    outer = image.crop((left, top, left + side, top + side))
    inner = image.crop((left + quiet, top + quiet, left + side - quiet, top + side - quiet))
    assert _dark(outer) == _dark(inner) > 0  # all the ink of that square is inside the quiet zone
    # ... and the code starts right at the quiet zone: three of its corners are finder patterns.
    last = inner.width - 1
    assert [inner.getpixel(corner) for corner in ((0, 0), (last, 0), (0, last))] == [0, 0, 0]


@pytest.mark.parametrize("poster", [PASSPORTS, LONGEST, UNBROKEN], ids=["usual", "longest", "unbroken"])
def test_nothing_runs_off_the_page_or_into_the_code(poster: posters.Poster) -> None:
    page = posters.compose(poster)
    image = posters.draw(page)

    for block in page.texts:
        for line in block.lines:
            assert posters.font(block.weight, block.size).getlength(line) <= WIDTH, line
    spans = [(b.top, b.top + b.height) for b in page.texts] + [
        (page.qr.top, page.qr.top + page.qr.image.height)
    ]
    spans.sort()
    assert spans[0][0] >= posters.MARGIN_PX
    assert spans[-1][1] <= posters.PAGE_PX[1] - posters.MARGIN_PX
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False))
    # The drawn page has no ink in its margins.
    w, h, m = *posters.PAGE_PX, posters.MARGIN_PX
    for margin in ((0, 0, w, m), (0, h - m, w, h), (0, 0, m, h), (w - m, 0, w, h)):
        assert _dark(image.crop(margin)) == 0, margin


def test_long_names_wrap_first_and_shrink_and_cut_only_at_the_column_limit() -> None:
    name = "Registration of Births, Deaths and Marriages, and Certified Copies of Civil Status Records"
    page = posters.compose(posters.Poster(URL, name, "Civil Registry and Vital Statistics", None, "en"))

    service = page.texts[1]
    assert len(service.lines) > 1
    assert " ".join(service.lines) == name  # all of it, in its words
    longest = posters.compose(LONGEST).texts[1]
    assert longest.lines[-1].endswith(posters.ELLIPSIS)
    assert not longest.lines[-1].removesuffix(posters.ELLIPSIS).endswith(" ")


def test_a_long_address_breaks_after_a_dot_slash_or_dash_and_loses_nothing() -> None:
    address = posters.compose(LONGEST).texts[-1]

    assert "".join(address.lines) == LONG_URL
    assert len(address.lines) == 2
    assert address.lines[0][-1] in "/.-"


@pytest.mark.parametrize("language", posters.LANGUAGES)
def test_the_poster_says_its_languages_words_and_the_names(language: posters.Language) -> None:
    poster = posters.Poster(URL, "Passport Renewal", "Immigration Office", "Counter 1", language)
    words = posters.WORDS[language]
    other = posters.WORDS["es" if language == "en" else "en"]

    text = printed(posters.compose(poster))

    expected = [words.title, "Passport Renewal", "Immigration Office", "Counter 1"]
    expected += [*words.instruction.split("\n"), words.type_it, URL]
    assert text == " ".join(expected)
    assert other.title not in text


def test_the_font_has_every_letter_of_the_words() -> None:
    every_word = (
        "".join(f"{w.title}{w.instruction}{w.type_it}" for w in posters.WORDS.values())
        + "áéíóúüñÁÉÍÓÚÜÑ¿¡"
        + posters.ELLIPSIS
    )

    assert posters.missing_glyphs(every_word) == ""
    # The check can fail: letters outside the font's Latin set are named, once each, in order.
    assert posters.missing_glyphs("Łódź Łódź") == "Łź"
    # Pillow's own font, which a poster does not use, prints Spanish letters as boxes.
    bundled = ImageFont.load_default(size=40)
    assert bytes(bundled.getmask("ñ")) == bytes(bundled.getmask("\ue000"))


def test_the_command_offers_the_posters_languages() -> None:
    assert qr_poster.LANGUAGE_CHOICES == posters.LANGUAGES


def test_an_address_too_long_for_a_big_enough_code_is_refused() -> None:
    with pytest.raises(posters.AddressTooLong, match="shorten GEA_SERVER_PUBLIC_BASE_URL"):
        posters.compose(posters.Poster("https://gov.gd/" + "x" * 400, "S", "E", None, "en"))


def _dark(image: Image.Image) -> int:
    """How many pixels of a one-bit image are black."""
    assert image.mode == "1"
    return image.histogram()[0]
