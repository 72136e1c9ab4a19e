"""IT's settings for a kiosk: `kiosk.toml` (never written by the kiosk), then single keys
from `GEA_KIOSK_*` environment variables (ARCHITECTURE section 2)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kiosk import escpos_printer, paths, pin


class KioskConfigError(Exception):
    """kiosk.toml or a GEA_KIOSK_* variable is wrong; the message says where and how to fix it."""


def check_server_url(value: str | None) -> str | None:
    """A server URL as IT writes it (kiosk.toml, enroll.toml), without a trailing slash."""
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("write it like https://feedback.gov.gd")
    return value.rstrip("/") if value else value


def check_pin_hash(value: str | None) -> str | None:
    """A staff PIN hash (PHC string) the kiosk can verify PINs against."""
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


class KioskSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEA_KIOSK_", extra="forbid")

    # The sync server. Checked, but not yet used: the kiosk talks to the one it enrolled with.
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
    batch_size: int = Field(default=250, ge=1, le=500)
    # Receipts: the Qt printer's name (empty: the system default), or a folder to write PDFs to
    # instead (a kiosk with no printer, tests, the demo). Paper is an 80 mm thermal roll or A4.
    printer: str | None = None
    print_to_pdf: Path | None = None
    paper: Literal["80mm", "A4"] = "80mm"
    # Or a thermal receipt printer that speaks ESC/POS, driven directly (no CUPS driver):
    # "tcp://192.0.2.10:9100" on the network, "usb://04b8:0e15" on USB (kiosk.escpos_printer).
    # After the keys it excludes, so its validator sees them.
    escpos: str | None = None
    # Staff mode returns to the citizen flow after this long untouched.
    staff_timeout_s: int = Field(default=120, ge=15, le=3600)
    high_contrast: bool = False
    # Text size as a factor of the reference display's (1.0 at 1920x1080).
    text_scale: float = Field(default=1.0, ge=0.75, le=2.0)
    # How much the kiosk writes to logs/ in its data directory: DEBUG, INFO, WARNING or ERROR.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _server_url = field_validator("server_url")(check_server_url)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    _pin_hash = field_validator("pin_hash")(check_pin_hash)

    @field_validator("printer")
    @classmethod
    def _queue_name(cls, value: str | None) -> str | None:
        # A print queue's name never holds "://" (CUPS forbids "/"): an address written here
        # would only ever be "not connected".
        if value is not None and "://" in value:
            raise ValueError(
                "this is a print queue's name (as lpstat -p or Windows' Printers list shows it); "
                f'for a thermal ESC/POS printer at an address, write escpos = "{value}" instead'
            )
        return value

    @field_validator("escpos")
    @classmethod
    def _escpos_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None  # GEA_KIOSK_ESCPOS="" unsets it
        escpos_printer.parse_target(value)  # a ValueError that says how to write it
        # Receipts go to one place; the 80 mm roll is the only paper an ESC/POS printer has.
        for other in ("print_to_pdf", "printer"):
            if info.data.get(other):
                raise ValueError(
                    f"cannot be used together with {other}: receipts go either to the ESC/POS "
                    f"printer or to {'PDF files' if other == 'print_to_pdf' else 'a print queue'}; "
                    "remove one of the two"
                )
        if info.data.get("paper", "80mm") != "80mm":
            raise ValueError(
                'an ESC/POS receipt printer prints on an 80 mm roll: leave paper out or set it to "80mm"'
            )
        return value.strip()

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
    try:
        # stat(), not is_file(): is_file() would call an unreadable folder a missing file (and
        # quietly give the defaults) on newer Pythons.
        found = stat.S_ISREG(path.stat().st_mode)
        if found:
            tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        found = False
    except PermissionError:
        # An installed kiosk's settings are root's and the kiosk account's (0640).
        raise KioskConfigError(
            f"{path} cannot be read by this account: run the command with sudo (as the kiosk's "
            "own account), or give this account read access"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KioskConfigError(f"{path} is not valid TOML: {exc}") from None
    if config_path is not None and not found:
        raise KioskConfigError(f"no configuration file at {path}")
    try:
        return _reading(path if found else None)(**overrides)
    except ValidationError as exc:
        said = problems(exc, unknown="not a setting of the kiosk (check the spelling)")
        text = "; ".join(f"{key} (or GEA_KIOSK_{key.upper()}): {message}" for key, message in said)
        raise KioskConfigError(f"{path}: {text}") from None


def problems(exc: ValidationError, *, unknown: str) -> list[tuple[str, str]]:
    """(key, what is wrong) for each of pydantic's errors in an IT file, in IT's words:
    `unknown` for a key the file does not take."""
    said = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "?"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = unknown
        elif error["type"] == "missing":
            message = "missing"
        said.append((key, message))
    return said
