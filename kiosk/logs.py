"""Where the kiosk writes what it does: configured once per process, at start-up.

Each program has its own rotating file in the data directory's `logs/` (the app
`kiosk.log`, `gea-kiosk sync` `sync.log`, the other commands `cli.log`), so two processes
never rotate the same file. Each file is at most MAX_BYTES, with BACKUP_COUNT older ones
beside it (`kiosk.log.1` ...): 6 MB per program at most. A copy goes to stderr when the
process has one (a frozen Windows build started from the desktop has none).

The loggers are `kiosk.ui`, `kiosk.sync` and `kiosk.local_db` (and their children), at the
level `log_level` in kiosk.toml sets; other libraries' loggers at WARNING. What is logged is
kinds, counts, timings and reference codes, never a payload, a citizen's words, a PIN, a
token or an enrollment code; the formatter also masks anything shaped like a secret, should
a library's message or a traceback carry one.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Final, TextIO

from kiosk.local_db import privacy

LOG_DIRNAME: Final = "logs"
MAX_BYTES: Final = 1_000_000
BACKUP_COUNT: Final = 5
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s [%(process)d %(threadName)s] %(message)s"
# The parent of every logger of ours.
KIOSK_LOGGER: Final = "kiosk"

# Shapes of secrets, masked in every line (a safety net; the code never logs them).
_SECRETS: Final = (
    # PIN hashes first: their parameters hold "=" and "," that would end a key=value match.
    (re.compile(r"\$(argon2id|scrypt)\$\S+"), r"$\1$***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (
        re.compile(
            r"(?i)\b(device_token|enrollment_code|token|pin|pin_hash|password|authorization)"
            r"""(["']?\s*[:=]\s*["']?)[^\s"',}]+"""
        ),
        r"\1\2***",
    ),
)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, tracebacks included, then masks anything shaped like a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log file that is owner-only from the moment it exists (logs sit in the data
    directory beside citizens' submissions). Rotation renames, which keeps the mode."""

    def _open(self) -> io.TextIOWrapper:
        privacy.create_private_file(Path(self.baseFilename))
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        # A full or read-only disk fails every line: the stderr copy still has them, and a
        # traceback per line on stderr would bury them.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


@dataclass(frozen=True)
class LogSetup:
    """What `configure` did: the file (None when the data directory could not take one)."""

    file: Path | None
    level: str
    problem: str | None = None


_installed: list[logging.Handler] = []


def log_dir(data_dir: Path) -> Path:
    return data_dir / LOG_DIRNAME


def log_file(data_dir: Path, program: str = "kiosk") -> Path:
    return log_dir(data_dir) / f"{program}.log"


def configure(
    data_dir: Path,
    level: str = "INFO",
    *,
    program: str = "kiosk",
    stderr_level: str | None = None,
    stream: TextIO | None = None,
) -> LogSetup:
    """Send the kiosk's loggers to `logs/<program>.log` and to stderr (at `stderr_level`, or
    `level`). Calling it again replaces what the previous call installed. A data directory that
    cannot take a log file (read-only, full) is no reason not to start: stderr alone, and the
    returned `problem` says why."""
    level = level.upper()
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    reset()
    formatter = RedactingFormatter(FORMAT)
    handlers: list[logging.Handler] = []
    path: Path | None = log_file(data_dir, program)
    problem = None
    try:
        privacy.make_private_dir(log_dir(data_dir))
        file_handler = PrivateRotatingFileHandler(
            log_file(data_dir, program), maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
    except OSError as exc:
        path = None
        problem = f"no log file in {log_dir(data_dir)}: {exc.strerror or exc}"
    else:
        handlers.append(file_handler)
    out = stream if stream is not None else sys.stderr
    if out is not None:  # None in a frozen GUI build on Windows
        console = logging.StreamHandler(out)
        console.setLevel(stderr_level.upper() if stderr_level else level)
        handlers.append(console)
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
        _installed.append(handler)
    # Other libraries speak up only for problems; ours at the configured level.
    root.setLevel(logging.WARNING)
    logging.getLogger(KIOSK_LOGGER).setLevel(level)
    if problem:
        logging.getLogger("kiosk.local_db").warning("%s; logging to stderr only", problem)
    return LogSetup(path, level, problem)


def reset() -> None:
    """Remove and close what `configure` installed (tests, and a second configure)."""
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()
