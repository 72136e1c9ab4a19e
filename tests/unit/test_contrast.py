"""Every text colour in the kiosk's stylesheets against the background it is drawn on: WCAG AA
(4.5:1) in the normal look, AAA (7:1) in high contrast.

The stylesheets are read as Qt cascades them for our selectors: a rule's own colour, else its
role's, else its widget type's, else QWidget's; a transparent background is the one behind it
(the banner's inside the banner, else the page's or a card's, whichever is worse).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
TEXT_WIDGETS = ("QLabel", "QPushButton", "QLineEdit", "QPlainTextEdit", "QListWidget")
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_HEX = re.compile(r"#[0-9A-Fa-f]{6}")

Rules = dict[str, dict[str, str]]


def rules(sheet: str) -> Rules:
    found: Rules = {}
    for selectors, body in _RULE.findall(_COMMENT.sub("", sheet)):
        decls = {
            name.strip(): value.strip()
            for name, _, value in (d.partition(":") for d in body.split(";"))
            if value.strip()
        }
        for selector in selectors.split(","):
            found.setdefault(selector.strip(), {}).update(decls)
    return found


def cascade(selector: str) -> list[str]:
    """The selectors a property falls back through, most specific first."""
    last = selector.split()[-1]
    kind = re.match(r"\w+", last)
    assert kind is not None, selector
    without_state = re.sub(r":\w+$", "", selector)
    role = re.sub(r":\w+$", "", last)
    return [selector, without_state, role, kind.group(0), "QWidget"]


def colour(found: Rules, selector: str, prop: str) -> str | None:
    for candidate in cascade(selector):
        value = found.get(candidate, {}).get(prop)
        if value is not None:
            return value
    return None


def backgrounds(found: Rules, selector: str) -> list[str]:
    value = colour(found, selector, "background")
    if value is not None and _HEX.fullmatch(value) and not selector.startswith("QLabel"):
        return [value]
    if "banner" in selector:
        return [found['QWidget[role="banner"]']["background"]]
    return [found["QWidget"]["background"], found['QWidget[role="card"]']["background"]]


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def pairs(sheet: str) -> list[tuple[str, str, str]]:
    found = rules(sheet)
    result: list[tuple[str, str, str]] = []
    for selector in found:
        kind = re.match(r"\w+", selector.split()[-1])
        if kind is None or kind.group(0) not in TEXT_WIDGETS or selector.endswith(":focus"):
            continue
        fg = colour(found, selector, "color")
        assert fg is not None, selector
        assert _HEX.fullmatch(fg), (selector, fg)
        result.extend((selector, fg, bg) for bg in backgrounds(found, selector))
    return result


@pytest.mark.parametrize(("sheet", "minimum"), [("kiosk.qss", 4.5), ("kiosk-high-contrast.qss", 7.0)])
def test_every_text_colour_meets_its_contrast_level(sheet: str, minimum: float) -> None:
    checked = pairs((RESOURCES / sheet).read_text("utf-8"))
    assert len(checked) > 20, "the stylesheet was not read"
    weak = [f"{s}: {fg} on {bg} is {ratio(fg, bg):.2f}:1" for s, fg, bg in checked if ratio(fg, bg) < minimum]
    assert not weak, "\n".join(weak)


def test_the_contrast_arithmetic_matches_wcag() -> None:
    assert ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)  # WCAG's well-known near miss


def test_a_weak_pair_would_be_found() -> None:
    sheet = 'QWidget { color: #1A1A1A; background: #F4F6F8; } QWidget[role="card"] { background: #FFFFFF; } '
    sheet += 'QWidget[role="banner"] { background: #0B4F8A; } QLabel[role="hint"] { color: #AAAAAA; }'
    [(_, fg, bg), *_] = [p for p in pairs(sheet) if p[0] == 'QLabel[role="hint"]']
    assert ratio(fg, bg) < 4.5
