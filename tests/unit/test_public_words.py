"""Every English text the public pages show has its Spanish (the English text is the catalog's
key, so a missing entry would silently show English to a Spanish-speaking citizen); and the
checks of a citizen's answers, without a server."""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest

from kiosk import services as kiosk_services
from server_sync_api.api import language, status_page
from server_sync_api.api.routes import status as status_routes
from server_sync_api.protocol import REFERENCE_CODE_PATTERN
from server_sync_api.public import web, words
from server_sync_api.services import appeal, public_feedback, status

TEMPLATES = Path(web.__file__).with_name("templates")
_CALL = re.compile(r"""_\(\s*(["'])(.+?)\1""")


def _template_texts() -> set[str]:
    found: set[str] = set()
    for template in [*TEMPLATES.glob("*.html"), Path(status_page.__file__)]:
        found.update(match.group(2) for match in _CALL.finditer(template.read_text("utf-8")))
    return found


def _status_page_texts() -> set[str]:
    """What the status page shows from constants: statuses, their meanings, the appeal's
    refusals, and the headings and messages its routes pass."""
    source = Path(status_routes.__file__).read_text("utf-8")
    refused = re.findall(r'refused\(\s*\d+,\s*"([^"]+)",\s*"([^"]+)"', source)
    return {
        *status_page._LABELS.values(),
        *status.STATUS_MEANINGS.values(),
        status.OTHER_STATUS_MEANING,
        status_page.REOPENED_THANKS,
        status_page.NOT_FOUND_WAIT,
        status_page.THROTTLED_WHY,
        status_page.THROTTLED_NOT_LOST,
        status_routes.CROSS_SITE_MESSAGE,
        appeal.NO_TICKET,
        appeal.ALREADY,
        appeal.NOT_DONE,
        appeal.EXPIRED,
        appeal.BLANK,
        appeal.TOO_LONG,
        *(text for pair in refused for text in pair),
    }


def _sentences_in(module: Path) -> set[str]:
    """The string constants of a module that read as words for people (a capital, a space, no
    code-like characters), docstrings left out."""
    tree = ast.parse(module.read_text("utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and re.fullmatch(r"[A-Z][^/_`\n]* [^/_`\n]*", node.value)
        and node.value != "Retry-After"
    }


def test_the_catalog_has_spanish_for_every_text_of_the_templates_and_the_code() -> None:
    from_code = _sentences_in(Path(web.__file__)) | {
        public_feedback.CHOOSE_RATING,
        public_feedback.CHOOSE_NUMBER,
        public_feedback.TEXT_TOO_LONG,
        public_feedback.TEXT_UNSTORABLE,
    }
    texts = _template_texts() | from_code | _status_page_texts()
    assert len(_status_page_texts()) > 25
    assert len(_template_texts()) > 40  # the patterns still find the texts
    assert len(from_code) > 15
    missing = sorted(text for text in texts if text not in words.SPANISH)
    assert missing == []


def test_a_spanish_text_keeps_the_placeholders_of_its_english() -> None:
    for english, spanish in words.SPANISH.items():
        assert set(re.findall(r"{\w+}", english)) == set(re.findall(r"{\w+}", spanish)), english


def test_answers_as_the_form_sends_them_are_checked_and_normalised() -> None:
    key = uuid.uuid4()
    feedback, problems = public_feedback.check(
        "4", {"waiting_time": "2", "cleanliness": ""}, "  Slow.\r\nBut kind.  ", True, key
    )
    assert problems == {}
    assert feedback == public_feedback.Feedback(
        rating=4, waiting_time=2, feedback_text="Slow.\nBut kind.", grievance_flag=True, client_uuid=key
    )


@pytest.mark.parametrize(
    ("rating", "subs", "text", "field", "message"),
    [
        ("", {}, None, "rating", public_feedback.CHOOSE_RATING),
        (None, {}, None, "rating", public_feedback.CHOOSE_RATING),
        ("6", {}, None, "rating", public_feedback.CHOOSE_NUMBER),
        ("-1", {}, None, "rating", public_feedback.CHOOSE_NUMBER),
        ("4.5", {}, None, "rating", public_feedback.CHOOSE_NUMBER),
        (True, {}, None, "rating", public_feedback.CHOOSE_NUMBER),
        (4, {"staff_behavior": "0"}, None, "staff_behavior", public_feedback.CHOOSE_NUMBER),
        (4, {}, "x" * 2001, "feedback_text", public_feedback.TEXT_TOO_LONG),
        (4, {}, "a\x00b", "feedback_text", public_feedback.TEXT_UNSTORABLE),
        ("²", {}, None, "rating", public_feedback.CHOOSE_NUMBER),  # a digit to isdigit, not to int
        (4, {"waiting_time": "①"}, None, "waiting_time", public_feedback.CHOOSE_NUMBER),
    ],
)
def test_answers_out_of_bounds_name_their_field(
    rating: object, subs: dict[str, object], text: str | None, field: str, message: str
) -> None:
    feedback, problems = public_feedback.check(rating, subs, text, False)
    assert feedback is None
    assert problems[field][0] == message


def test_a_comment_of_exactly_the_limit_is_taken_and_blank_is_none() -> None:
    full, _ = public_feedback.check(5, {}, "é" * 2000, False)
    blank, _ = public_feedback.check(5, {}, "   \n ", False)
    assert full is not None
    assert full.feedback_text == "é" * 2000
    assert blank is not None
    assert blank.feedback_text is None


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("es-419,es;q=0.9", "es"),
        ("fr-CA, es;q=0.8", "es"),
        ("en;q=0.5, es;q=0.9", "es"),
        ("es;q=0, en", "en"),  # q=0: not Spanish
        ("es;q=nonsense, en", "en"),
        ("de", "en"),
        ("", "en"),
    ],
)
def test_the_browser_language_is_taken_by_its_weights(header: str, chosen: str) -> None:
    assert language.choose(None, accept_language=header) == chosen


@pytest.mark.parametrize(
    ("code", "reference"),
    [
        ("K0007-000123-7QX4", True),
        ("WEB-000123-7QX4K2M9", True),
        ("WEB-12345678-7QX4K2M9", True),  # the number widens past 999,999
        ("WEB-000123-7QX", False),
        ("WEB-000123-7QX4K2M9Z", False),
        ("202612-000123", False),  # a ticket number
    ],
)
def test_the_server_and_the_kiosk_agree_on_what_a_reference_is(code: str, reference: bool) -> None:
    assert bool(re.fullmatch(REFERENCE_CODE_PATTERN, code)) is reference
    assert kiosk_services._looks_like_reference(code) is reference
