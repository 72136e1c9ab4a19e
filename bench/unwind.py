"""SIGTERM unwinds a benchmark like Ctrl-C, so the servers, databases and directories it made
are removed by its `finally` blocks and context managers."""

from __future__ import annotations

import signal
from types import FrameType


def stop_cleanly(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
    raise SystemExit(128 + signum)


def on_sigterm_unwind() -> None:
    signal.signal(signal.SIGTERM, stop_cleanly)
