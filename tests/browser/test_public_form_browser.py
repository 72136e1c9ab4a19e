"""The citizens' form (issue 15) in a real browser, at a phone's size and a desktop's: a poster
scanned, answered and sent as a complaint, then followed to its status page; the per-address
rules as a citizen meets them (two free, the CAPTCHA ticked with the keyboard for the third to
the fifth, the page that says when to come back from the sixth, with an unsent comment kept);
Spanish throughout; the portal's service picker; the whole form by keyboard alone. Every page
is checked with axe-core for serious or critical accessibility violations, and what was stored
is checked in the database.

Each test acts from its own client address (X-Forwarded-For, which uvicorn trusts from
127.0.0.1), so the tests would stay independent even on a shared database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, ViewportSize, expect
from sqlalchemy.engine import URL

from server_sync_api.public.words import SPANISH
from tests.helpers.browser import serious_violations
from tests.helpers.public import POSTER, POSTER_SERVICE, citizen, serve_public, solve
from tests.helpers.server import LiveServer

pytestmark = pytest.mark.pg

SIZES: dict[str, dict[str, Any]] = {
    "phone": {"viewport": ViewportSize(width=360, height=800), "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": ViewportSize(width=1280, height=900)},
}
SERVICE = "Passport Application and Renewal"  # the poster's service in the demo catalog
RETIRED_POSTER = "QR-SVC002-GRENVILLE"
WEB_REFERENCE = re.compile(r"WEB-[0-9]{6}-[0-9A-HJKMNP-TV-Z]{8}")
TICKET = re.compile(r"[0-9]{6}-[0-9]{6,}")
COMMENT = "The clerk was kind, but I waited three hours\nand the form was not explained."
LOST_COMMENT = "Sent after the limit: this must not be lost."
COME_BACK = "You can send feedback again after {time} (in {minutes} min)."

Opener = Callable[..., Page]


def en(english: str, **values: object) -> str:
    return english.format(**values)


def es(english: str, **values: object) -> str:
    """The Spanish the pages show for an English key (server_sync_api/public/words.py)."""
    return SPANISH[english].format(**values)


@pytest.fixture
def live(db_url: URL) -> Iterator[LiveServer]:
    with serve_public(db_url) as server:
        yield server


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Opener]:
    """A page in a fresh context that acts from `address`, at a size and in a locale."""
    contexts: list[BrowserContext] = []

    def opener(
        address: str, size: str = "desktop", *, locale: str = "en-GB", javascript: bool = True
    ) -> Page:
        context = browser.new_context(
            locale=locale,
            java_script_enabled=javascript,
            extra_http_headers={"X-Forwarded-For": address},
            **SIZES[size],
        )
        contexts.append(context)
        return context.new_page()

    yield opener
    for context in contexts:
        context.close()


def accessible(page: Page) -> None:
    """No serious or critical axe-core finding, and nothing that scrolls sideways."""
    assert serious_violations(page) == []
    assert page.viewport_size is not None
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def opened(response: Response | None, status: int = 200) -> None:
    assert response is not None
    assert response.status == status


def rate(page: Page, words: str = "Good", legend: str = "Overall, how was the service?") -> None:
    page.get_by_role("group", name=legend).get_by_role("radio", name=words, exact=True).check()


def send(page: Page, button: str = "Send feedback") -> None:
    page.get_by_role("button", name=button).click()


def received(page: Page, heading: str = "Feedback received") -> str:
    """The confirmation's reference."""
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    reference = page.locator(".reference").inner_text()
    assert WEB_REFERENCE.fullmatch(reference), reference
    return reference


def tick_captcha(page: Page, label: str = "I'm not a robot", verified: str = "Verified") -> None:
    """Tick the CAPTCHA's box with the keyboard, and wait for the proof of work to finish (the
    box is then named for its new state)."""
    widget = page.locator("altcha-widget")
    box = widget.get_by_role("checkbox", name=label)
    expect(box).not_to_be_checked()
    box.focus()
    page.keyboard.press("Space")
    expect(widget.get_by_role("checkbox", name=verified)).to_be_checked()
    expect(widget.locator("input[type=hidden][name=altcha]")).not_to_have_value("")


def error_summary(page: Page, heading: str = "There is a problem") -> Locator:
    """The error summary, which has the focus."""
    summary = page.locator(".error-summary")
    expect(summary.get_by_role("heading", name=heading)).to_be_visible()
    expect(summary).to_be_focused()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    return summary


def refused_for_now(
    page: Page,
    response: Response | None,
    sent: tuple[datetime, datetime],
    live: LiveServer,
    words: Callable[..., str] = en,
) -> int:
    """The page that says when to come back: status 429, Retry-After, and the clock time and
    minutes it names agree with it (in the app's time zone). The seconds to wait."""
    opened(response, 429)
    assert response is not None
    retry = int(response.headers["retry-after"])
    assert 0 < retry <= 3600
    zone = ZoneInfo(live.settings.timezone)
    # The app read its clock between `sent`'s two moments; its wait is whole seconds.
    earliest, latest = sent[0] + timedelta(seconds=retry - 1), sent[1] + timedelta(seconds=retry + 1)
    sentences = {
        words(COME_BACK, time=f"{m.astimezone(zone):%H:%M}", minutes=-(-retry // 60))
        for m in (earliest, latest)
    }
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Please try again later"))
    expect(page.locator("main strong")).to_have_text(
        re.compile("^(" + "|".join(map(re.escape, sentences)) + ")$")
    )
    return retry


def scans(conn: psycopg.Connection[Any], value: str = POSTER) -> int:
    row = conn.execute("SELECT scan_count FROM qr_codes WHERE qr_code_value = %s", (value,)).fetchone()
    assert row is not None
    return int(row[0])


def stored(conn: psycopg.Connection[Any], reference: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT channel, service_id, rating, service_quality, staff_behavior, waiting_time, cleanliness, "
        "       feedback_text, grievance_flag, qr_code_id IS NOT NULL "
        "FROM service_feedback WHERE reference_code = %s",
        (reference,),
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_citizen_scans_a_poster_complains_and_follows_it(
    size: str, live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    before = scans(conn)
    page = open_page("203.0.113.10" if size == "phone" else "203.0.113.11", size)
    opened(page.goto(f"{live.base_url}/q/{POSTER}"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"How was {SERVICE}?")
    expect(page.locator("altcha-widget")).to_have_count(0)  # the first submission is free
    accessible(page)

    rate(page, "Poor")
    for legend, value in (
        ("Quality of the service", 3),
        ("Staff courtesy and helpfulness", 4),
        ("Waiting time", 1),
        ("Cleanliness of the office", 5),
    ):
        page.get_by_role("radio", name=f"{legend}: {value}", exact=True).check()
    page.get_by_label("Comments (optional)").fill(COMMENT)
    page.get_by_role("checkbox", name="I want to make a complaint").check()
    button = page.get_by_role("button", name="Send feedback")
    if size == "phone":
        button.tap()
    else:
        button.click()

    reference = received(page)
    expect(page.get_by_role("status")).to_contain_text(reference)
    sentence = page.get_by_text("Your complaint was passed to")
    expect(sentence).to_contain_text(re.compile(r"as ticket [0-9]{6}-[0-9]{6,}\."))
    ticket = TICKET.search(sentence.inner_text())
    assert ticket is not None
    accessible(page)

    page.get_by_role("link", name="Follow your feedback").click()
    page.wait_for_url(re.compile(rf"/s/{reference}(\?|$)"))
    expect(page.locator("main")).to_contain_text(reference)
    expect(page.locator("main")).to_contain_text(ticket.group())

    rows = conn.execute("SELECT count(*) FROM service_feedback").fetchone()
    assert rows == (1,)
    assert stored(conn, reference) == (
        "qr_code",
        POSTER_SERVICE,
        2,
        3,
        4,
        1,
        5,
        COMMENT,
        True,
        True,
    )
    tickets = conn.execute(
        "SELECT t.ticket_number FROM tickets t JOIN service_feedback f USING (feedback_id) "
        "WHERE f.reference_code = %s",
        (reference,),
    ).fetchone()
    assert tickets == (ticket.group(),)
    assert scans(conn) == before + 1  # one page view; sending and the status page count none


def test_the_third_to_fifth_need_the_captcha_and_the_sixth_is_refused_keeping_the_comment(
    live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    started = time.monotonic()
    address = "203.0.113.20"
    url = f"{live.base_url}/q/{POSTER}"
    page = open_page(address)
    widget = page.locator("altcha-widget")

    # 1st and 2nd: no CAPTCHA.
    for _ in range(2):
        opened(page.goto(url))
        expect(widget).to_have_count(0)
        rate(page)
        send(page)
        received(page)

    # 3rd, from a browser without JavaScript: the widget cannot run (a <noscript> says so;
    # Playwright's switch turns scripts off but not the parser's <noscript>, so it is not shown
    # here), and sending asks for the box to be ticked: a refusal, which does not count.
    bare = open_page(address, javascript=False)
    opened(bare.goto(url))
    expect(bare.locator("#captcha noscript")).to_have_count(1)
    rate(bare)
    with bare.expect_navigation() as refused:
        send(bare)
    opened(refused.value, 400)
    summary = bare.locator(".error-summary")
    expect(summary.get_by_role("link")).to_have_text(
        "Tick the box to confirm you are a person, then send again."
    )
    expect(summary.get_by_role("link")).to_have_attribute("href", "#captcha")

    # 3rd, with JavaScript: the widget is there; sent without ticking, it solves itself on
    # submit (auto="onsubmit"), the form goes with its proof, and the submission is accepted.
    opened(page.goto(url))
    expect(page.get_by_text("Confirm you are a person", exact=True)).to_be_visible()
    expect(widget).to_be_visible()
    expect(widget.get_by_role("checkbox", name="I'm not a robot")).not_to_be_checked()
    rate(page)
    with page.expect_request(lambda request: request.method == "POST") as posted:
        send(page)
    assert re.search(r"(^|&)altcha=[^&]+", posted.value.post_data or "")
    received(page)

    # 4th: the box ticked with the keyboard first.
    opened(page.goto(url))
    tick_captcha(page)
    accessible(page)
    rate(page)
    send(page)
    received(page)

    # A second tab opens the form before the 5th is sent, and is sent after it.
    later = page.context.new_page()
    opened(later.goto(url))
    expect(later.locator("altcha-widget")).to_be_visible()
    rate(later, "Very poor")
    later.get_by_label("Comments (optional)").fill(LOST_COMMENT)

    # 5th.
    opened(page.goto(url))
    tick_captcha(page)
    rate(page)
    send(page)
    received(page)

    # The second tab's form is refused with the page that says when to come back, and keeps
    # the comment so that it is not lost.
    before = datetime.now(UTC)
    with later.expect_navigation() as limited:
        send(later)
    refused_for_now(later, limited.value, (before, datetime.now(UTC)), live)
    expect(later.get_by_role("textbox", name="Your comment")).to_have_value(LOST_COMMENT)
    accessible(later)

    # 6th: the poster's page itself says when to come back, before anything is typed; the
    # wait is until the first of the five leaves the hour.
    before = datetime.now(UTC)
    response = page.goto(url)
    retry = refused_for_now(page, response, (before, datetime.now(UTC)), live)
    assert retry >= 3600 - (time.monotonic() - started) - 1
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.get_by_role("button")).to_have_count(0)

    accepted = conn.execute(
        "SELECT count(*) FROM service_feedback WHERE channel = 'qr_code' AND feedback_text IS NULL"
    ).fetchone()
    assert accepted == (5,)
    outcomes = conn.execute(
        "SELECT success, count(*) FROM submission_attempts WHERE attempt_type = 'public_feedback' "
        "AND ip_address = %s GROUP BY success ORDER BY success",
        (address,),
    ).fetchall()
    assert outcomes == [(False, 2), (True, 5)]  # the no-JavaScript try and the late tab


def test_spanish_from_the_browsers_language_and_the_link_that_switches(
    live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    page = open_page("203.0.113.30", "phone", locale="es-ES")  # Accept-Language: es-ES
    opened(page.goto(f"{live.base_url}/q/{POSTER}"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text(es("How was {service}?", service=SERVICE))
    expect(page.get_by_text(es("It takes a minute. Only the first question is required."))).to_be_visible()
    accessible(page)

    # The link switches to English and back, on the same poster.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"How was {SERVICE}?")
    page.get_by_role("link", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page).to_have_url(re.compile(rf"/q/{POSTER}\?lang=es$"))

    # Sent without a rating: the error summary, in Spanish.
    send(page, es("Send feedback"))
    summary = error_summary(page, es("There is a problem"))
    expect(summary.get_by_role("link")).to_have_text(
        es("Choose how you rate the service, from 1 (very poor) to 5 (very good).")
    )
    expect(page).to_have_title(re.compile(rf"^{es('Error')}: "))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    accessible(page)

    rate(page, es("Very poor"), es("Overall, how was the service?"))
    page.get_by_role("checkbox", name=es("I want to make a complaint")).check()
    send(page, es("Send feedback"))
    reference = received(page, es("Feedback received"))
    expect(page.get_by_text(re.compile(r"como caso [0-9]{6}-[0-9]{6,}\."))).to_be_visible()
    expect(page.get_by_role("link", name=es("Follow your feedback"))).to_have_attribute(
        "href", re.compile(rf"/s/{reference}\?lang=es$")
    )
    expect(page.locator("html")).to_have_attribute("lang", "es")
    accessible(page)
    assert stored(conn, reference)[:3] == ("qr_code", POSTER_SERVICE, 1)


def test_spanish_by_the_address_through_the_captcha_to_the_page_that_refuses(
    live: LiveServer, open_page: Opener
) -> None:
    address = "203.0.113.31"
    url = f"{live.base_url}/q/{POSTER}?lang=es"
    page = open_page(address, "phone")  # an English browser; ?lang=es chooses
    with citizen(live, address) as api:  # two free submissions, made quickly
        for _ in range(2):
            assert (
                api.post("/api/v1/public/feedback", json={"service_id": "SVC-002", "rating": 4}).status_code
                == 201
            )

    opened(page.goto(url))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_text(es("Confirm you are a person"), exact=True)).to_be_visible()
    tick_captcha(page, label="No soy un robot", verified="Verificado")
    accessible(page)
    rate(page, es("Good"), es("Overall, how was the service?"))
    send(page, es("Send feedback"))
    received(page, es("Feedback received"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(
        page.get_by_text(es("Your rating is counted in the service's results, which the office reviews."))
    ).to_be_visible()

    with citizen(live, address) as api:  # the 4th and 5th, each with its CAPTCHA solved
        for _ in range(2):
            asked = api.post("/api/v1/public/feedback", json={"service_id": "SVC-002", "rating": 4})
            assert asked.status_code == 400
            captcha = solve(asked.json()["error"]["challenge"])
            sent = api.post(
                "/api/v1/public/feedback", json={"service_id": "SVC-002", "rating": 4, "captcha": captcha}
            )
            assert sent.status_code == 201

    before = datetime.now(UTC)
    response = page.goto(url)
    refused_for_now(page, response, (before, datetime.now(UTC)), live, es)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    accessible(page)


def test_the_portal_groups_services_by_office_and_asks_for_one(
    live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    page = open_page("203.0.113.40")
    opened(page.goto(f"{live.base_url}/feedback"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Give feedback on a service")
    picker = page.get_by_label("Which service did you use?")
    expect(picker).to_have_value("")
    offices = picker.locator("optgroup")
    expect(offices.first).to_have_attribute("label", re.compile(r"."))
    assert offices.count() > 1
    licensing = picker.locator("optgroup[label='Driver Licensing Unit']")
    expect(licensing.locator("option")).to_have_text(["Driver's Licence Renewal"])
    accessible(page)

    rate(page, "Very good")
    send(page)
    summary = error_summary(page)
    link = summary.get_by_role("link", name="Choose the service you used.")
    accessible(page)
    link.click()
    expect(picker).to_be_focused()
    expect(page.get_by_role("radio", name="Very good", exact=True)).to_be_checked()  # kept

    picker.select_option(label="Driver's Licence Renewal")
    send(page)
    reference = received(page)
    expect(page.get_by_text("Thank you for telling us about Driver's Licence Renewal.")).to_be_visible()
    assert stored(conn, reference) == ("portal", "SVC-002", 5, None, None, None, None, None, False, False)


def test_a_citizen_completes_and_sends_the_form_with_the_keyboard_alone(
    live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    page = open_page("203.0.113.50")
    opened(page.goto(f"{live.base_url}/q/{POSTER}"))
    keys = page.keyboard

    def focused() -> str:
        return str(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))

    keys.press("Tab")
    assert focused() == "Skip to main content"
    keys.press("Tab")
    assert focused() == "Español"
    keys.press("Tab")
    assert focused() == "rating-1"  # the group's first radio, "Very good"
    # Straight to the button without a rating, and Enter: the error summary has the focus.
    for expected in (
        "service_quality-1",
        "staff_behavior-1",
        "waiting_time-1",
        "cleanliness-1",
        "feedback_text",
        "grievance_flag",
        "Send feedback",
    ):
        keys.press("Tab")
        assert focused() == expected
    keys.press("Enter")
    summary = error_summary(page)
    # Its link, by keyboard, moves the focus to the question.
    keys.press("Tab")
    expect(summary.get_by_role("link")).to_be_focused()
    keys.press("Enter")
    very_good = page.get_by_role("radio", name="Very good", exact=True)
    expect(very_good).to_be_focused()

    keys.press("ArrowDown")  # arrows move through the group and choose: "Good"
    expect(page.get_by_role("radio", name="Good", exact=True)).to_be_checked()
    keys.press("Tab")  # service quality: 1, then right twice: 3
    keys.press("ArrowRight")
    keys.press("ArrowRight")
    expect(page.get_by_role("radio", name="Quality of the service: 3")).to_be_checked()
    keys.press("Tab")  # staff: Space chooses the focused 1
    keys.press("Space")
    expect(page.get_by_role("radio", name="Staff courtesy and helpfulness: 1")).to_be_checked()
    keys.press("Tab")  # waiting time and cleanliness left unanswered
    keys.press("Tab")
    keys.press("Tab")
    assert focused() == "feedback_text"
    keys.type("Typed without a mouse.")
    keys.press("Tab")
    keys.press("Space")
    expect(page.get_by_role("checkbox", name="I want to make a complaint")).to_be_checked()
    keys.press("Tab")
    assert focused() == "Send feedback"
    keys.press("Enter")
    reference = received(page)
    assert stored(conn, reference) == (
        "qr_code",
        POSTER_SERVICE,
        4,
        3,
        1,
        None,
        None,
        "Typed without a mouse.",
        True,
        True,
    )


def test_unknown_and_retired_posters_say_so_in_both_languages(
    live: LiveServer, conn: psycopg.Connection[Any], open_page: Opener
) -> None:
    conn.execute("UPDATE qr_codes SET is_active = false WHERE qr_code_value = %s", (RETIRED_POSTER,))
    page = open_page("203.0.113.60", "phone")
    base = live.base_url

    opened(page.goto(f"{base}/q/QR-NOT-OURS"), 404)
    expect(page.get_by_role("heading", level=1)).to_have_text("We do not know this code")
    accessible(page)
    opened(page.goto(f"{base}/q/QR-NOT-OURS?lang=es"), 404)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text(es("We do not know this code"))
    accessible(page)

    opened(page.goto(f"{base}/q/{RETIRED_POSTER}?lang=es"), 410)
    expect(page.get_by_role("heading", level=1)).to_have_text(es("This poster is no longer in use"))
    accessible(page)
    opened(page.goto(f"{base}/q/{RETIRED_POSTER}"), 410)
    expect(page.get_by_role("heading", level=1)).to_have_text("This poster is no longer in use")
    accessible(page)
    # Its link leads to the portal with the poster's service chosen.
    page.get_by_role("link", name="Give feedback on a service").click()
    expect(page.get_by_label("Which service did you use?")).to_have_value("SVC-002")

    opened(page.goto(f"{base}/feedback?lang=es"))
    expect(page.get_by_label(es("Which service did you use?"))).to_have_value("")
    accessible(page)
