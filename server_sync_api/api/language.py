"""The citizen's or officer's language: English or Spanish, as the kiosk speaks both.

Pages call `_("English text")`; the English text is the key, so a template reads as the page
does and a missing translation shows English rather than a code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"


def translator(catalog: Mapping[str, str]) -> Callable[..., str]:
    """`_(text, **values)`: the text in the catalog's language (English when it has none),
    with `{name}` fields filled."""

    def translate(text: str, **values: object) -> str:
        translated = catalog.get(text, text)
        return translated.format(**values) if values else translated

    return translate


def choose(*candidates: str | None, accept_language: str = "") -> str:
    """The first supported language among the candidates, else the browser's, else English."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    for code in _by_preference(accept_language):
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def _by_preference(accept_language: str) -> list[str]:
    """The two-letter languages of an Accept-Language header, most wanted first; `q=0` means
    "not this one"."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        code, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and code:
            ranked.append((-weight, position, code.lower()[:2]))
    return [code for _, _, code in sorted(ranked)]
