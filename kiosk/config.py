"""IT's settings for a kiosk: `kiosk.toml` (never written by the kiosk), then single keys
from `GEA_KIOSK_*` environment variables (ARCHITECTURE section 2)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kiosk import paths, pin


class KioskConfigError(Exception):
    """kiosk.toml or a GEA_KIOSK_* variable is wrong; the message says where and how to fix it."""


class KioskSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEA_KIOSK_", extra="forbid")

    # The sync server. Enrollment stores the one it used; set it here to override.
    server_url: str | None = None
    # A CA bundle for a government PKI, when the server's certificate is not publicly trusted.
    ca_bundle: Path | None = None
    # The staff PIN as a PHC string: `gea-kiosk pin-hash` (argon2id) or scrypt; else the one set at enroll.
    pin_hash: str | None = None
    # The services of this counter; empty means every active service in the catalog.
    services: list[str] = Field(default_factory=list)
    language: Literal["en", "es"] = "en"
    idle_timeout_s: int = Field(default=30, ge=5, le=600)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    read_timeout_s: float = Field(default=30.0, gt=0, le=600)
    batch_size: int = Field(default=100, ge=1, le=500)
    # Receipts: the Qt printer's name (empty: the system default), or a folder to write PDFs to
    # instead (a kiosk with no printer, tests, the demo). Paper is an 80 mm thermal roll or A4.
    printer: str | None = None
    print_to_pdf: Path | None = None
    paper: Literal["80mm", "A4"] = "80mm"
    # Staff mode returns to the citizen flow after this long untouched.
    staff_timeout_s: int = Field(default=120, ge=15, le=3600)
    high_contrast: bool = False
    # Text size as a factor of the reference display's (1.0 at 1920x1080).
    text_scale: float = Field(default=1.0, ge=0.75, le=2.0)
    # How much the kiosk writes to logs/ in its data directory: DEBUG, INFO, WARNING or ERROR.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("server_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("write it like https://feedback.gov.gd")
        return value.rstrip("/") if value else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("pin_hash")
    @classmethod
    def _phc(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            pin.check_hash(value)
        except pin.UnreadableHash as exc:
            raise ValueError(
                f"{exc}; use the output of `gea-kiosk pin-hash` (it starts with $argon2id$) "
                "or a scrypt PHC string ($scrypt$ln=16,r=8,p=1$<salt>$<hash>)"
            ) from None
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del dotenv_settings, file_secret_settings  # IT configures through kiosk.toml and env only
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def _reading(path: Path | None) -> type[KioskSettings]:
    """KioskSettings whose TOML source is `path` (pydantic-settings takes it from model_config)."""

    class KioskSettingsFromFile(KioskSettings):
        model_config = SettingsConfigDict(**{**KioskSettings.model_config, "toml_file": path})

    return KioskSettingsFromFile


def load_settings(config_path: Path | None = None, **overrides: Any) -> KioskSettings:
    """Read kiosk.toml (the --config path, GEA_KIOSK_CONFIG, or the platform's config dir) and
    the environment. A missing file is fine (defaults); a broken one is an error that says so."""
    path = config_path or paths.config_file()
    if config_path is not None and not path.is_file():
        raise KioskConfigError(f"no configuration file at {path}")
    if path.is_file():
        try:
            tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise KioskConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return _reading(path if path.is_file() else None)(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"]) or "?"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "not a setting of the kiosk (check the spelling)"
            problems.append(f"{key} (or GEA_KIOSK_{key.upper()}): {message}")
        raise KioskConfigError(f"{path}: " + "; ".join(problems)) from None
