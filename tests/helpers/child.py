"""A `python -c` child process for tests that need a second process (a second kiosk process,
a process to kill -9). Its complete stdout lines arrive in a queue the test waits on, with
a timeout, instead of sleeping."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 60.0


class Child:
    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith("\n"):  # a line cut short by a kill was never completed
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def read_line(self) -> str:
        try:
            line = self._lines.get(timeout=CHILD_TIMEOUT_S)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no output from the child in {CHILD_TIMEOUT_S} s") from None
        if line is None:
            raise AssertionError(f"the child ended early:\n{self.stderr()}")
        return line

    def rest(self) -> list[str]:
        """Every remaining line, once the child has ended."""
        self.process.wait(timeout=CHILD_TIMEOUT_S)
        lines = []
        while (line := self._lines.get(timeout=CHILD_TIMEOUT_S)) is not None:
            lines.append(line)
        return lines

    def kill_and_drain(self) -> list[str]:
        """SIGKILL, then every complete line it had printed before dying."""
        self.process.kill()
        assert self.process.wait(timeout=CHILD_TIMEOUT_S) == -9, self.stop()
        return self.rest()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def stderr(self) -> str:
        self.process.wait(timeout=CHILD_TIMEOUT_S)
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> str:
        """Kill it if it still runs; returns what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=CHILD_TIMEOUT_S)
        assert self.process.stderr is not None
        errors = self.process.stderr.read()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return errors
