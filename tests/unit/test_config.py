"""Server settings: what is accepted, and what an operator is told when it is not."""

from __future__ import annotations

import pytest

from server_sync_api.core.config import SettingsError, load_settings, normalize_database_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDBACK_DB_URL", raising=False)
    monkeypatch.delenv("GEA_SERVER_TIMEZONE", raising=False)


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://postgres@127.0.0.1:5432/feedback",
        "postgres://postgres@127.0.0.1:5432/feedback",
        "postgresql+psycopg2://postgres@127.0.0.1:5432/feedback",
        "postgresql+psycopg://postgres@127.0.0.1:5432/feedback",
    ],
)
def test_postgres_urls_are_normalised_to_psycopg3(given: str) -> None:
    url = normalize_database_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert url.database == "feedback"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_DB_URL", "postgresql://u:p@db.example:6543/fb")
    monkeypatch.setenv("GEA_SERVER_TIMEZONE", "UTC")
    settings = load_settings()
    assert settings.url.host == "db.example"
    assert settings.url.port == 6543
    assert settings.url.password == "p"
    assert settings.timezone == "UTC"


def test_time_zone_defaults_to_grenada(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_DB_URL", "postgresql://u@h/fb")
    assert load_settings().timezone == "America/Grenada"


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEA_SERVER_TIMEZONE", "Not/AZone")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "FEEDBACK_DB_URL is not set" in message
    assert "GEA_SERVER_TIMEZONE: unknown time zone 'Not/AZone'" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///feedback.db", "feedback_db is PostgreSQL"),
        ("::::", "not a database URL"),
        ("postgresql://u@h", "names no database"),
    ],
)
def test_bad_database_urls_say_what_to_write(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv("FEEDBACK_DB_URL", url)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


# --- mail, osTicket and the scheduler (issue 14) ---------------------------------------------

DB = "postgresql://u@h/fb"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"smtp_host": "mail.gov.gd"}, "GEA_SERVER_SMTP_FROM is not set"),
        ({"smtp_host": "mail.gov.gd", "smtp_from": "a@gov.gd", "smtp_username": "u"}, "go together"),
        (
            {"smtp_from": "GEA\r\nBcc: x <feedback@gov.gd>"},
            "GEA_SERVER_SMTP_FROM: a mail address on one line",
        ),
        ({"smtp_from": "feedback"}, "GEA_SERVER_SMTP_FROM: not a mail address"),
        ({"osticket_url": "https://helpdesk.gov.gd"}, "go together"),
        ({"osticket_url": "https://host:99999", "osticket_api_key": "k"}, "GEA_SERVER_OSTICKET_URL: write"),
        ({"osticket_url": "https://host:abc", "osticket_api_key": "k"}, "GEA_SERVER_OSTICKET_URL: write"),
        ({"osticket_url": "https://ho st.gd", "osticket_api_key": "k"}, "GEA_SERVER_OSTICKET_URL: write"),
        (
            {"osticket_url": "ftp://helpdesk.gov.gd", "osticket_api_key": "k"},
            "GEA_SERVER_OSTICKET_URL: write",
        ),
        (
            {"osticket_url": "https://helpdesk.gov.gd", "osticket_api_key": "k"},
            "GEA_SERVER_OSTICKET_EMAIL is needed",
        ),
        ({"scheduler": "yes"}, "GEA_SERVER_SCHEDULER: Input should be 'on' or 'off'"),
    ],
)
def test_mail_osticket_and_scheduler_settings_say_what_to_fix(
    overrides: dict[str, str], expected: str
) -> None:
    with pytest.raises(SettingsError, match=expected.replace("(", r"\(")):
        load_settings(database_url=DB, **overrides)


def test_a_complete_mail_and_osticket_setup_is_accepted() -> None:
    settings = load_settings(
        database_url=DB,
        smtp_host="mail.gov.gd",
        smtp_from="GEA Feedback <feedback@gov.gd>",
        smtp_username="gea",
        smtp_password="hunter2-mail-password",
        osticket_url="https://helpdesk.gov.gd/support/",
        osticket_api_key="0123456789ABCDEF0123456789ABCDEF",
        public_base_url="https://feedback.gov.gd",
        scheduler="on",
    )
    assert settings.osticket_enabled
    assert settings.osticket_url == "https://helpdesk.gov.gd/support"
    assert "hunter2-mail-password" not in repr(settings)
    assert "0123456789ABCDEF" not in repr(settings)
