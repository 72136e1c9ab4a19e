"""Officers' mail without a server: both languages for every text, the Message-ID rule, and which
answers of a mail server are worth a retry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server_sync_api.mail import words
from server_sync_api.mail.compose import Addressee, Happening, Letterhead, compose, message_id
from server_sync_api.mail.smtp import is_permanent

LETTERHEAD = Letterhead(
    "GEA Feedback <feedback@gov.example.gd>", "https://feedback.example.gd", ZoneInfo("UTC")
)
AT = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def _every_kind() -> list[Happening]:
    ticket: dict[str, Any] = {
        "title": "Grievance: Passport Renewal",
        "office": "Passport Office",
        "created_at": AT,
    }
    return [
        Happening(
            1, "new_ticket", "202603-000001", reason="assignee", priority="Critical", respond_by=AT, **ticket
        ),
        Happening(2, "breach", "202603-000001", reason="assignee", target="response", due=AT, **ticket),
        Happening(3, "breach", "202603-000002", reason="supervisor", target="resolution", due=AT, **ticket),
        Happening(4, "escalation", "202603-000002", reason="admin", target="response", due=AT, **ticket),
        Happening(5, "escalation", "202603-000003", reason="assignee", target="resolution", due=AT, **ticket),
        Happening(
            6, "reassigned", "202603-000004", reason="assignee", assigned_by="Sam", previous="Ana", **ticket
        ),
        Happening(
            7, "reassigned", "202603-000005", reason="supervisor", assigned_by="Sam", assignee="Ben", **ticket
        ),
    ]


def test_each_text_has_the_same_placeholders_in_both_languages() -> None:
    for key, (english, spanish) in words.TEXTS.items():
        assert set(re.findall(r"{\w+}", english)) == set(re.findall(r"{\w+}", spanish)), key
        assert english != spanish or key == "signature", key


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_kind_of_message_renders_alone_and_in_a_digest(language: str) -> None:
    kinds = _every_kind()
    for happening in kinds:
        message = compose(Addressee("ana@gov.example.gd", "Ana", language), [happening], LETTERHEAD)
        assert happening.ticket_number in str(message["Subject"])
    digest = compose(Addressee("ana@gov.example.gd", "Ana", language), kinds, LETTERHEAD)
    assert str(digest["Subject"]).startswith("7 ")
    assert "202603-000005" in str(digest["Subject"])
    text = digest.get_body(("plain",))
    assert text is not None
    assert "2026-03-06 15:00 UTC" in text.get_content()


def test_spanish_mail_has_no_english_sentence_left() -> None:
    english = {pair[0] for key, pair in words.TEXTS.items() if key != "signature"}
    digest = compose(Addressee("lucia@gov.example.gd", "Lucía", "es"), _every_kind(), LETTERHEAD)
    body = digest.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    for text in english:
        first_words = text.split("{")[0].strip()
        if len(first_words) > 8:
            assert first_words not in content, text


def test_a_message_id_depends_on_the_notifications_and_the_recipient_only() -> None:
    sender = "GEA Feedback <feedback@gov.example.gd>"
    assert message_id([3, 1, 2], "Ana@Gov.example.gd", sender) == message_id(
        [1, 2, 3], "ana@gov.example.gd", sender
    )
    assert message_id([1, 2], "ana@gov.example.gd", sender) != message_id(
        [1, 2, 3], "ana@gov.example.gd", sender
    )
    assert message_id([1], "ana@gov.example.gd", sender) != message_id([1], "ben@gov.example.gd", sender)
    single = message_id([42], "ana@gov.example.gd", sender)
    assert re.fullmatch(r"<gea-n42\.[0-9a-f]{24}@gov\.example\.gd>", single)
    assert "ana" not in single


@pytest.mark.parametrize(
    ("code", "answer", "permanent"),
    [
        (550, "5.1.1 No such user", True),
        (553, "Mailbox name not allowed", True),
        (554, "5.2.1 Mailbox disabled", True),
        (450, "4.2.1 Mailbox busy", False),
        (452, "4.2.2 Mailbox full", False),
        (421, "4.3.2 Shutting down", False),
        (550, "5.7.1 Relaying denied", False),  # the server refuses us: a setting to fix
        (554, "5.7.0 Sender not authorised", False),
        (530, "Authentication required", False),
    ],
)
def test_which_refusals_are_permanent(code: int, answer: str, permanent: bool) -> None:
    assert is_permanent(code, answer) is permanent


def test_a_priority_an_administrator_added_keeps_its_name() -> None:
    assert words.priority_word("High", "es") == "alta"
    assert words.priority_word("Urgent (ministerial)", "es") == "Urgent (ministerial)"
