"""Kiosk mode as gea-kiosk@.service runs it, without the service manager: Debian's cage, on
its headless back-end, runs the bundle full screen on Wayland, and a Unix datagram socket plays
systemd's NOTIFY_SOCKET. The readiness and watchdog pings come from the kiosk, a child of cage,
which is why the unit needs NotifyAccess=all; a screenshot (grim) shows the attract screen.

cage refuses to run as root, so it runs as `nobody` here, as the service runs it as gea-kiosk.
"""

from __future__ import annotations

import array
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from PIL import Image

from tests.helpers import packaging

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="runs cage as another account: needs root (CI runs as root)"
    ),
]

ACCOUNT = "nobody"
DEADLINE_S = 60


def _bluest(colours: list[tuple[int, tuple[int, int, int]]]) -> tuple[int, int, int]:
    """The colour that makes the screen bluest, from PIL's getcolors (pixel count, colour)."""
    return max(colours, key=lambda count_colour: (count_colour[1][2] - count_colour[1][0]) * count_colour[0])[
        1
    ]


@dataclass(frozen=True)
class Notice:
    pid: int
    message: str


def _receive(listener: socket.socket) -> Notice:
    """One datagram and its sender's pid, from the kernel's credentials (as systemd reads it)."""
    message, ancillary, _, _ = listener.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    pid = 0
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = array.array("i", data[: struct.calcsize("3i")])[0]
    return Notice(pid, message.decode())


@pytest.fixture
def session() -> Iterator[Path]:
    """A folder the unprivileged account owns (outside pytest's root-only temporary folders):
    its data directory, runtime directory and the notify socket."""
    for tool in ("cage", "grim", "Xwayland"):
        assert shutil.which(tool), f"install Debian's {tool.lower()} (CI does: .ci/run)"
    account = pwd.getpwnam(ACCOUNT)
    folder = Path(tempfile.mkdtemp(prefix="gea-kiosk-mode-"))
    (folder / "runtime").mkdir(mode=0o700)
    for path in (folder, folder / "runtime"):
        os.chown(path, account.pw_uid, account.pw_gid)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_under_cage_the_kiosk_says_ready_and_pings_from_its_own_pid_and_shows_the_attract_screen(
    session: Path, request: pytest.FixtureRequest
) -> None:
    bundle = packaging.bundle()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    request.addfinalizer(listener.close)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notify = session / "notify"
    listener.bind(str(notify))
    notify.chmod(0o777)
    listener.settimeout(DEADLINE_S)
    env = packaging.scrubbed_env(
        HOME=str(session),
        XDG_RUNTIME_DIR=str(session / "runtime"),
        WLR_BACKENDS="headless",
        WLR_RENDERER="pixman",
        WLR_LIBINPUT_NO_DEVICES="1",
        QT_QPA_PLATFORM="wayland",
        GEA_KIOSK_DATA_DIR=str(session / "data"),
        GEA_KIOSK_CONFIG=str(session / "kiosk.toml"),
        NOTIFY_SOCKET=str(notify),
        WATCHDOG_USEC="2000000",
    )
    # The unit's ExecStart, as the unit's User= would run it.
    with (session / "cage.log").open("w") as cage_log:
        cage = subprocess.Popen(
            ["setpriv", f"--reuid={ACCOUNT}", "--regid=nogroup", "--clear-groups"]
            + ["cage", "-d", "--", str(bundle / "gea-kiosk")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=cage_log,
            start_new_session=True,
        )
    try:
        try:
            ready = _receive(listener)
        except TimeoutError:
            pytest.fail("no READY=1 from the kiosk under cage:\n" + (session / "cage.log").read_text())
        assert ready.message.splitlines()[0] == "READY=1", ready
        ping = _receive(listener)
        assert ping.message == "WATCHDOG=1"
        # Both from the kiosk, not from cage (the service's main process): NotifyAccess=all.
        assert ready.pid == ping.pid
        assert ready.pid not in (0, cage.pid)
        assert Path(f"/proc/{ready.pid}/exe").resolve() == (bundle / "gea-kiosk").resolve()

        shot = session / "screen.png"
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the first frame may still be on its way when READY=1 is sent
            grim = subprocess.run(
                ["setpriv", f"--reuid={ACCOUNT}", "--regid=nogroup", "--clear-groups", "grim", str(shot)],
                env=env | {"WAYLAND_DISPLAY": "wayland-0"},
                capture_output=True,
                text=True,
            )
            assert grim.returncode == 0, grim.stderr
            with Image.open(shot) as image:
                colours = cast(
                    list[tuple[int, tuple[int, int, int]]], image.convert("RGB").getcolors(1 << 16)
                )
            # The attract screen: its blue banner and light page, not an empty black output.
            banner = _bluest(colours)
            if len(colours) > 16 and banner[2] > 100 > banner[0] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(colours) > 16, "the screen shows no kiosk"
        assert banner[2] > 100 > banner[0], f"no blue banner on screen ({banner})"
    finally:
        os.killpg(cage.pid, signal.SIGTERM)
        try:
            cage.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(cage.pid, signal.SIGKILL)
            cage.wait()
