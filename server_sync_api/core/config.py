"""Server settings, read from the environment (ARCHITECTURE section 2).

`FEEDBACK_DB_URL` names the database; everything else is `GEA_SERVER_*`. Settings are built
by calling `load_settings()`, never at import time, so a test can point a process anywhere.
"""

from __future__ import annotations

import zoneinfo

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_TIMEZONE = "America/Grenada"
DATABASE_URL_EXAMPLE = "postgresql+psycopg://postgres@127.0.0.1:5432/feedback"


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEA_SERVER_", extra="ignore")

    database_url: str = Field(validation_alias=AliasChoices("FEEDBACK_DB_URL"))
    timezone: str = DEFAULT_TIMEZONE

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

    @property
    def url(self) -> URL:
        return make_url(self.database_url)


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
            field = str(error["loc"][0]) if error["loc"] else "?"
            # pydantic names a field by its alias when it has one (FEEDBACK_DB_URL).
            name = field if field.isupper() else _ENV_NAMES.get(field, f"GEA_SERVER_{field.upper()}")
            if error["type"] == "missing":
                problems.append(f"{name} is not set: set it to a URL like {DATABASE_URL_EXAMPLE}")
            else:
                problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(problems)) from None
