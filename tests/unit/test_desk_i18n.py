"""Every English text the desk shows has its Spanish (the English text is the catalog's key, so
a missing entry would silently show English to a Spanish-speaking officer)."""

from __future__ import annotations

import re
from pathlib import Path

from server_sync_api.desk import app, i18n, oidc, web

TEMPLATES = Path(web.__file__).with_name("templates")
# _("text") and _('text') in templates; texts with {placeholders} included.
_CALL = re.compile(r"""_\(\s*(["'])(.+?)\1""")


def _template_texts() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        found.update(match.group(2) for match in _CALL.finditer(template.read_text("utf-8")))
    return found


def _code_texts() -> set[str]:
    texts = {*web.DONE_MESSAGES.values(), app.NOT_CONFIGURED, app.EXPIRED, oidc.NOT_AN_OFFICER}
    texts.update(oidc.REFUSALS.values())
    source = Path(web.__file__).read_text("utf-8") + Path(app.__file__).read_text("utf-8")
    # web.message(request, "Title", ...) and the sign-in page's error texts.
    texts.update(m.group(1) for m in re.finditer(r'message\(\s*request,\s*"([^"]+)"', source))
    texts.update(
        m.group(1) for m in re.finditer(r'errors(?:\.append\(|=\[)\(?\s*(?:"\w+",\s*)?"([^"]+)"', source)
    )
    return texts


def test_the_catalog_has_spanish_for_every_text_of_the_templates_and_the_code() -> None:
    texts = _template_texts() | _code_texts()
    assert len(texts) > 100  # the patterns still find the texts
    missing = sorted(text for text in texts if text not in i18n.SPANISH)
    assert missing == []


def test_a_spanish_text_keeps_the_placeholders_of_its_english() -> None:
    for english, spanish in i18n.SPANISH.items():
        assert set(re.findall(r"{\w+}", english)) == set(re.findall(r"{\w+}", spanish)), english


def test_the_language_is_chosen_from_the_choice_then_the_browser() -> None:
    assert i18n.choose(None, "es") == "es"
    assert i18n.choose("fr", None, accept_language="fr-CA, es;q=0.8") == "es"
    assert i18n.choose(None, accept_language="de") == "en"
    assert i18n.translator("es")("Ticket {number}", number="202612-000001") == "Caso 202612-000001"
