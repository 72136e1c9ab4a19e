"""What the demo says to its terminal, caught for a test: pass a `Terminal` where the demo
takes a `say` (kiosk/demo_feed.Say; click.echo in the command). Safe to call from the ticket
feed's thread while the test reads."""

from __future__ import annotations

import re
import threading

TICKET_LINE = re.compile(r"^New ticket (?P<number>[0-9]{6}-[0-9]{6,}) ")


class Terminal:
    def __init__(self) -> None:
        self.lines: list[tuple[str, bool]] = []  # (line, said on stderr)
        self._lock = threading.Lock()

    def __call__(self, message: str, /, *, err: bool = False) -> None:
        with self._lock:
            self.lines.append((message, err))

    def out(self) -> list[str]:
        with self._lock:
            return [line for line, err in self.lines if not err]

    def err(self) -> list[str]:
        with self._lock:
            return [line for line, err in self.lines if err]

    def tickets(self) -> list[str]:
        """The ticket numbers of the feed's lines, in the order said."""
        return [m.group("number") for m in map(TICKET_LINE.match, self.out()) if m]

    def ticket_line(self, number: str) -> str:
        (line,) = [line for line in self.out() if line.startswith(f"New ticket {number} ")]
        return line
