"""Where the kiosk keeps its data and finds IT's configuration (ARCHITECTURE section 2)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "gea-kiosk"
APP_AUTHOR = "GEA"
DATA_DIR_ENV = "GEA_KIOSK_DATA_DIR"
CONFIG_ENV = "GEA_KIOSK_CONFIG"
CONFIG_FILENAME = "kiosk.toml"


def data_dir() -> Path:
    """The SQLite file, the device token, logs and receipts live here."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def config_file() -> Path:
    override = os.environ.get(CONFIG_ENV)
    return (
        Path(override)
        if override
        else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)) / CONFIG_FILENAME
    )
