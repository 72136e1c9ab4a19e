"""Server settings, read from the environment (ARCHITECTURE section 2).

`FEEDBACK_DB_URL` names the database; everything else is `GEA_SERVER_*`. Settings are built
by calling `load_settings()`, never at import time, so a test can point a process anywhere.
"""

from __future__ import annotations

import re
import zoneinfo
from email.utils import parseaddr
from ipaddress import ip_address
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_TIMEZONE = "America/Grenada"
DATABASE_URL_EXAMPLE = "postgresql+psycopg://postgres@127.0.0.1:5432/feedback"


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
MIN_SECRET_LENGTH = 32
# Values people paste from examples; a secret that appears in documentation protects nothing.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "changethis", "example", "xxx"})


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEA_SERVER_", extra="ignore", populate_by_name=True)

    database_url: str = Field(validation_alias=AliasChoices("FEEDBACK_DB_URL"))
    timezone: str = DEFAULT_TIMEZONE
    # Keys the HMAC of citizens' addresses (ARCHITECTURE 4.9). Required by `serve`.
    ip_hash_secret: SecretStr | None = None
    # Where citizens' phones reach the status pages; printed in every receipt's QR code.
    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    enrollment_code_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    # Wrong enrollment codes from one address before it must wait (per window).
    enroll_max_failures: int = Field(default=10, ge=1)
    enroll_failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    # A kiosk is shown as silent in `devices list` after this long without a request.
    silent_after_hours: int = Field(default=24, ge=1)
    # The officers' desk (ARCHITECTURE 4.13). Without a session secret the desk says it is not
    # configured and everything else is served as before.
    session_secret: SecretStr | None = None
    session_idle_minutes: int = Field(default=30, ge=5, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    # Sign-in through the government's identity provider; all three or none.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # Mail to officers (`gea-server notify`): without a host nothing is sent and the
    # notifications wait in the outbox.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    # `serve` runs the SLA scan, notifications, the osTicket push and maintenance itself: one
    # runner across every worker and host (a PostgreSQL advisory lock).
    scheduler: Literal["on", "off"] = "off"
    # The ministry's osTicket (`gea-server osticket-push`); both or neither.
    osticket_url: str | None = None
    osticket_api_key: SecretStr | None = None
    # The sender osTicket records for the tickets we create (citizens give no address).
    osticket_email: str | None = None
    # The public form's CAPTCHA (ALTCHA, docs/public-feedback.md): PBKDF2 iterations per try,
    # and the largest number of tries a challenge takes (it takes between half and all of it).
    # The defaults took headless Chromium 0.8-1.8 s on a 2-core server; tests make them small.
    captcha_cost: int = Field(default=2_000, ge=1, le=1_000_000)
    captcha_max_tries: int = Field(default=600, ge=2, le=1_000_000)

    @field_validator("ip_hash_secret", "session_secret")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"use a random value of at least {MIN_SECRET_LENGTH} characters, for example the "
                "output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError("write it like https://feedback.gov.gd (http or https, no query)")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        return normalize_database_url(value).render_as_string(hide_password=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as America/Grenada or UTC"
            ) from None
        return value

    @field_validator(
        "smtp_host", "smtp_username", "smtp_from", "osticket_url", "osticket_email", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    @field_validator("smtp_from", "osticket_email")
    @classmethod
    def _mail_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if any(ord(c) < 32 or ord(c) == 127 for c in value):  # a line break would forge headers
            raise ValueError("a mail address on one line, without control characters")
        _, address = parseaddr(value)
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
            raise ValueError(
                "not a mail address: write it like feedback@gov.gd or 'GEA Feedback <feedback@gov.gd>'"
            )
        return value

    @field_validator("osticket_url")
    @classmethod
    def _osticket_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        try:
            parsed.port  # noqa: B018 - raises for a port out of range or not a number
        except ValueError:
            parsed = urlsplit("")
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.hostname
            or parsed.query
            or parsed.fragment
            or any(c.isspace() for c in value)
        ):
            raise ValueError(
                "write osTicket's address like https://helpdesk.gov.gd (the API is at /api/tickets.json)"
            )
        return value.rstrip("/")

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError(
                "write the identity provider's issuer URL, e.g. https://sso.gov.gd/realms/gov "
                "(its /.well-known/openid-configuration must answer)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _oidc_complete(self) -> ServerSettings:
        given = [self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret]
        if any(given) and not all(given):
            raise ValueError(
                "GEA_SERVER_OIDC_ISSUER, GEA_SERVER_OIDC_CLIENT_ID and GEA_SERVER_OIDC_CLIENT_SECRET "
                "go together: set all three for sign-in through the identity provider, or none"
            )
        return self

    @model_validator(mode="after")
    def _smtp_complete(self) -> ServerSettings:
        if self.smtp_host is not None and self.smtp_from is None:
            raise ValueError(
                "GEA_SERVER_SMTP_FROM is not set: with GEA_SERVER_SMTP_HOST, set it to the address "
                "officers' mail comes from, like 'GEA Feedback <feedback@gov.gd>'"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "GEA_SERVER_SMTP_USERNAME and GEA_SERVER_SMTP_PASSWORD go together: set both to log in "
                "to the mail server, or neither"
            )
        return self

    @model_validator(mode="after")
    def _osticket_complete(self) -> ServerSettings:
        if (self.osticket_url is None) != (self.osticket_api_key is None):
            raise ValueError(
                "GEA_SERVER_OSTICKET_URL and GEA_SERVER_OSTICKET_API_KEY go together: set both to send "
                "new tickets to osTicket, or neither"
            )
        host = urlsplit(self.public_base_url).hostname or ""
        if (
            self.osticket_url is not None
            and self.osticket_email is None
            and mail_domain_of(self.public_base_url) is None
        ):
            # osTicket refuses a sender at an IP address or a bare host name; say so now, not
            # at every push.
            raise ValueError(
                f"GEA_SERVER_OSTICKET_EMAIL is needed: the public address's host {host!r} is no mail "
                "domain to make a sender from; set it to the address osTicket should record, e.g. "
                "feedback@gov.gd"
            )
        return self

    @property
    def osticket_enabled(self) -> bool:
        return self.osticket_url is not None

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @property
    def url(self) -> URL:
        return make_url(self.database_url)


def mail_domain_of(url: str) -> str | None:
    """The host of `url` when it can be a mail domain: not an IP address, not a bare name."""
    host = urlsplit(url).hostname or ""
    try:
        ip_address(host)
    except ValueError:
        return host if "." in host else None
    return None


def normalize_database_url(value: str) -> URL:
    """Parse a PostgreSQL URL and make it use psycopg 3, the driver we install."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL: write it like {DATABASE_URL_EXAMPLE}") from None
    # "postgres://" is what many hosting panels print; SQLAlchemy only knows "postgresql".
    if url.drivername.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"feedback_db is PostgreSQL: write the URL like {DATABASE_URL_EXAMPLE}")
    url = url.set(drivername="postgresql+psycopg")
    if not url.database:
        raise ValueError(f"the URL names no database: write it like {DATABASE_URL_EXAMPLE}")
    return url


_ENV_NAMES = {"database_url": "FEEDBACK_DB_URL"}


def load_settings(**overrides: object) -> ServerSettings:
    """Read the settings, turning pydantic's report into one sentence per bad variable."""
    try:
        return ServerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across fields says the names itself
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
            # pydantic names a field by its alias when it has one (FEEDBACK_DB_URL).
            name = field if field.isupper() else _ENV_NAMES.get(field, f"GEA_SERVER_{field.upper()}")
            if error["type"] == "missing":
                problems.append(f"{name} is not set: set it to a URL like {DATABASE_URL_EXAMPLE}")
            else:
                problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(problems)) from None


def require_api_settings(settings: ServerSettings) -> SecretStr:
    """The settings only serving needs; returns the IP-hash secret or says how to make one."""
    if settings.ip_hash_secret is None:
        raise SettingsError(
            "GEA_SERVER_IP_HASH_SECRET is not set: set it to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters, for example the output of "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if settings.db_pool_min_size > settings.db_pool_max_size:
        raise SettingsError("GEA_SERVER_DB_POOL_MIN_SIZE must not exceed GEA_SERVER_DB_POOL_MAX_SIZE")
    return settings.ip_hash_secret
