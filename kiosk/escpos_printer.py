"""Thermal receipt printers that speak ESC/POS and have no CUPS driver (issue 11): the receipt as
ESC/POS bytes, composed with python-escpos, sent over the network (the raw port, 9100) or USB.

No Qt here: `ReceiptPrinter` (kiosk/ui/printing.py) hands in the receipt's words in the kiosk's
language and turns the errors below into the same states, outcomes and faults as the CUPS path.

::

    EscposError            the receipt did not reach the printer, or not whole
    ├── NotReachable       nothing answers at the address, or no such USB device ("missing")
    │   └── NoUsbSupport   libusb, which USB printing needs, is not installed
    ├── NoAccess           the USB device is there, but the kiosk's account may not use it
    └── JobBroken          the printer took part of the receipt, then stopped or went away

Every error keeps the original one as its cause; its message is English, for logs and IT.

python-escpos is imported on the first receipt only (about a quarter of a second, mostly its
printer database), so a kiosk without an ESC/POS printer, and every start-up, never pays for it.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import ipaddress
import logging
import os
import re
import shutil
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from kiosk.receipt import Receipt

log = logging.getLogger("kiosk.printer")

DEFAULT_PORT: Final = 9100
# A printer on the counter's network answers a connection in milliseconds; one that has not
# answered in this long is off, unplugged or at another address.
CONNECT_TIMEOUT_S: Final = 3.0
# The whole receipt (about 1.5 kB) into the printer's buffer. A printer that stops reading for
# this long (out of paper, cover open, jammed) has stopped.
WRITE_TIMEOUT_S: Final = 10.0
# After the last byte: how long to wait for the printer to close its end (see _send_tcp).
FINISH_TIMEOUT_S: Final = 2.0
# "Is it there?" (start-up, the receipt screen, staff's health screen): a connection and no more.
PROBE_TIMEOUT_S: Final = 1.0

# python-escpos's profile for the Epson TM-T88III: the 80 mm roll at 42 columns of font A and
# only the code pages (437, 850, 858, 1252...) that Epson clones number the same way. Printers
# at 203 dpi fit 48 columns; lines wrapped at 42 fit both. The library's "default" profile
# offers dozens of code pages numbered as on recent Epsons, which clones often do not share.
PROFILE: Final = "TM-T88III"
COLUMNS: Final = 42
WIDE_COLUMNS: Final = COLUMNS // 2  # double-width text
RULE: Final = "-" * COLUMNS
# Dots per QR module: a status URL is a version 4 symbol (33 modules), so 8 dots make it 37 mm
# wide at 180 dpi and 33 mm at 203 dpi, over the 30 mm a phone reads at arm's length.
QR_MODULE_DOTS: Final = 8
# The USB bulk OUT endpoint Epson printers use (python-escpos's default too); others say theirs
# in `lsusb -v`, and kiosk.toml names it with ?out_ep=.
EPSON_OUT_ENDPOINT: Final = 0x01

HOW_TO: Final = (
    'write it like "tcp://192.0.2.10:9100" (a network printer; the port is 9100 when left out) '
    'or "usb://04b8:0e15" (a USB printer\'s vendor:product id, as lsusb shows it)'
)
_USB_IDS: Final = re.compile(r"([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})")
_LABEL: Final = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST_NAME: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")


# --- errors ---------------------------------------------------------------------------------


class EscposError(Exception):
    """The receipt did not reach the printer, or not whole."""


class NotReachable(EscposError):
    """Nothing answers at the printer's address, or no such USB device is plugged in."""


class NoUsbSupport(NotReachable):
    """pyusb found no libusb to talk to USB devices through."""


class NoAccess(EscposError):
    """The USB printer is plugged in, but the kiosk's account may not use it."""


class JobBroken(EscposError):
    """The printer took part of the receipt and then stopped taking it, or went away."""


# --- where the printer is -------------------------------------------------------------------


@dataclass(frozen=True)
class TcpTarget:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class UsbTarget:
    vendor: int
    product: int
    out_ep: int = EPSON_OUT_ENDPOINT

    def __str__(self) -> str:
        return f"USB {self.vendor:04x}:{self.product:04x}"


Target = TcpTarget | UsbTarget


def parse_target(text: str) -> Target:
    """kiosk.toml's `escpos`: "tcp://HOST[:PORT]" or "usb://VENDOR:PRODUCT[?out_ep=0xNN]".
    Raises ValueError with a message that says how to write it."""
    value = text.strip()
    scheme, separator, rest = value.partition("://")
    if not separator or scheme.lower() not in ("tcp", "usb"):
        raise ValueError(f"{text!r} is not an ESC/POS printer's address; {HOW_TO}")
    return _tcp(value) if scheme.lower() == "tcp" else _usb(value, rest)


def _tcp(value: str) -> TcpTarget:
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535; {HOW_TO}")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: only a host and a port go after tcp://; {HOW_TO}")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"{value!r} names no printer; {HOW_TO}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"{value!r}: {host!r} is not a host name or an IP address; {HOW_TO}") from None
    return TcpTarget(host, port or DEFAULT_PORT)


def _usb(value: str, rest: str) -> UsbTarget:
    ids, _, query = rest.partition("?")
    found = _USB_IDS.fullmatch(ids.strip("/"))
    if found is None:
        raise ValueError(
            f"{value!r}: a USB printer is named by its vendor:product id, four hexadecimal digits "
            'each, as lsusb shows it (e.g. "usb://04b8:0e15")'
        )
    out_ep = EPSON_OUT_ENDPOINT
    for key, given in parse_qsl(query, keep_blank_values=True):
        if key != "out_ep":
            raise ValueError(f"{value!r}: {key!r} is not an option of a USB printer (only out_ep is)")
        try:
            out_ep = int(given, 0)
        except ValueError:
            out_ep = -1
        # An OUT endpoint address has its top bit clear (lsusb: "EP 3 OUT" is 0x03).
        if not 0x01 <= out_ep <= 0x0F:
            raise ValueError(
                f"{value!r}: out_ep must be the printer's bulk OUT endpoint, from 0x01 to 0x0f "
                '(lsusb -v shows it as "bEndpointAddress 0x03  EP 3 OUT")'
            )
    return UsbTarget(int(found[1], 16), int(found[2], 16), out_ep)


# --- the receipt as ESC/POS -----------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """The receipt's sentences in the kiosk's language (the Qt side translates them)."""

    title: str
    reference_label: str
    ticket: str | None  # "Ticket number: 202611-000042", when the server has opened one
    rating: str | None  # "Your rating: 1 of 5"
    closing: str
    kiosk: str  # "Kiosk K0007"


def compose(receipt: Receipt, wording: Wording) -> bytes:
    """The receipt as one ESC/POS job: centred text, the QR code drawn by the printer itself
    (GS ( k, so it is as sharp as the printer's dots), and a cut."""
    escpos = _library()
    out: Any = escpos.printer.Dummy(profile=PROFILE)
    out.hw("INIT")  # whatever the last job left set (sizes, alignment, code page) is reset
    out.set(align="center", bold=True, double_width=True, double_height=True)
    _lines(out, wording.title, WIDE_COLUMNS)
    out.set(normal_textsize=True, bold=True)
    out.ln()
    _lines(out, receipt.service_name, COLUMNS)
    out.set(bold=False)
    _lines(out, receipt.entity_name, COLUMNS)
    _lines(out, receipt.local_time_text(), COLUMNS)
    out.textln(RULE)
    _lines(out, wording.reference_label, COLUMNS)
    # The code is what a citizen reads out on the phone: large, and cut anywhere if too long.
    out.set(bold=True, double_width=True, double_height=True)
    _lines(out, receipt.reference_code, WIDE_COLUMNS, anywhere=True)
    out.set(normal_textsize=True)
    if wording.ticket:
        out.set(bold=True)
        _lines(out, wording.ticket, COLUMNS)
        out.set(bold=False)
    if wording.rating:
        _lines(out, wording.rating, COLUMNS)
    out.ln()
    # Centred by the alignment above: python-escpos's own centring is for image QR codes only.
    out.qr(receipt.status_url, ec=escpos.constants.QR_ECLEVEL_M, size=QR_MODULE_DOTS, native=True)
    out.ln()
    _lines(out, receipt.status_url, COLUMNS, anywhere=True)
    out.textln(RULE)
    _lines(out, wording.closing, COLUMNS)
    out.ln()
    _lines(out, wording.kiosk, COLUMNS)
    # A partial cut after feeding past the cutter: the slip hangs from the printer until the
    # citizen takes it, rather than dropping behind the counter.
    out.cut(mode="PART")
    data: bytes = out.output
    return data


def _lines(out: Any, text: str, width: int, *, anywhere: bool = False) -> None:
    # Catalog text is printed, never obeyed: a control character (ESC, GS...) in a service's
    # name would otherwise be a printer command.
    clean = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if anywhere:
        lines = [clean[i : i + width] for i in range(0, len(clean), width)]
    else:
        lines = textwrap.wrap(clean, width, break_on_hyphens=False)
    for line in lines:
        out.textln(line)


# --- sending it -----------------------------------------------------------------------------


def send(
    target: Target,
    data: bytes,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    write_timeout_s: float = WRITE_TIMEOUT_S,
    finish_timeout_s: float = FINISH_TIMEOUT_S,
) -> None:
    """One job to the printer, whole. Raises an EscposError; never waits longer than the
    timeouts (run it off the GUI thread all the same)."""
    if isinstance(target, TcpTarget):
        _send_tcp(target, data, connect_timeout_s, write_timeout_s, finish_timeout_s)
    else:
        _send_usb(target, data, write_timeout_s)


def probe(target: Target, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Is the printer there? A network printer is connected to and left at once (no job); a
    USB one is looked for on the bus. Raises NotReachable or NoAccess."""
    if isinstance(target, TcpTarget):
        _connect(target, timeout_s).close()
    else:
        _find_usb(target)


def _connect(target: TcpTarget, timeout_s: float) -> socket.socket:
    try:
        return socket.create_connection((target.host, target.port), timeout=timeout_s)
    except OSError as exc:  # refused, unreachable, timed out, or a host name DNS does not know
        raise NotReachable(f"nothing answers at {target} ({_reason(exc)})") from exc


def _send_tcp(
    target: TcpTarget, data: bytes, connect_timeout_s: float, write_timeout_s: float, finish_timeout_s: float
) -> None:
    with _connect(target, connect_timeout_s) as connection:
        connection.settimeout(write_timeout_s)  # for the whole sendall, since Python 3.5
        try:
            connection.sendall(data)
            # Half-close and wait for the printer to close its end, as CUPS's socket backend
            # does (waiteof): a printer that has read the whole job closes; one that went away
            # with part of it unread answers with a reset, which sendall alone never sees when
            # the job fits in the socket buffers.
            connection.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise JobBroken(f"{target} stopped taking the receipt ({_reason(exc)})") from exc
        deadline = time.monotonic() + finish_timeout_s
        try:
            while (left := deadline - time.monotonic()) > 0:
                connection.settimeout(left)
                if not connection.recv(1024):  # status bytes some printers send back: unused
                    return
        except TimeoutError:
            pass
        except OSError as exc:
            raise JobBroken(f"{target} dropped the receipt before the end ({_reason(exc)})") from exc
        # Every byte was taken, and the printer keeps its end open (some do, until the client
        # goes): as delivered as TCP can tell.
        log.debug("%s kept the connection open after the receipt", target)


def _find_usb(target: UsbTarget) -> Any:
    """The pyusb device, or an error that says what IT must do."""
    try:
        import usb.core  # type: ignore[import-untyped]  # pyusb, python-escpos's [usb] extra
    except ImportError as exc:
        raise NoUsbSupport(f"{target} cannot be used: pyusb is not installed (reinstall the kiosk)") from exc
    try:
        device = usb.core.find(idVendor=target.vendor, idProduct=target.product)
    except usb.core.NoBackendError as exc:
        raise NoUsbSupport(
            f"{target} cannot be used: libusb is not installed (Debian: apt-get install libusb-1.0-0; "
            "Windows: libusb-1.0.dll beside the kiosk)"
        ) from exc
    if device is None:
        raise NotReachable(f"no {target} is plugged in (lsusb lists the USB devices)")
    # Listing the bus needs no rights; printing needs the device node (Linux).
    node = Path(f"/dev/bus/usb/{device.bus:03d}/{device.address:03d}")
    if node.exists() and not os.access(node, os.R_OK | os.W_OK):
        raise NoAccess(
            f"the kiosk's account may not use {target} ({node}): add the udev rule for it, "
            "or the account to the group that owns the device"
        )
    return device


def _send_usb(target: UsbTarget, data: bytes, write_timeout_s: float) -> None:
    _find_usb(target)
    escpos = _library()
    import usb.core

    printer: Any = escpos.printer.Usb(
        target.vendor,
        target.product,
        timeout=round(write_timeout_s * 1000),  # pyusb's unit; python-escpos's default 0 waits forever
        out_ep=target.out_ep,
        profile=PROFILE,
    )
    with _quiet_root():
        try:
            printer.open()
        except escpos.exceptions.DeviceNotFoundError as exc:
            cause = exc.__context__
            if isinstance(cause, usb.core.USBError) and cause.errno in (errno.EACCES, errno.EPERM):
                raise NoAccess(f"the kiosk's account may not use {target} ({cause})") from exc
            raise NotReachable(f"{target} could not be opened ({exc})") from exc
        try:
            # python-escpos's documented way to send a Dummy printer's output to a real one.
            printer._raw(data)
        except usb.core.USBTimeoutError as exc:
            raise JobBroken(f"{target} took nothing for {write_timeout_s:g} s") from exc
        except usb.core.USBError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise NoAccess(f"the kiosk's account may not use {target} ({exc})") from exc
            raise JobBroken(f"{target} stopped taking the receipt ({exc})") from exc
        finally:
            printer.close()


def _reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return exc.strerror or str(exc) or type(exc).__name__


# --- python-escpos, imported when first needed ----------------------------------------------

_import_lock = threading.Lock()
_imported: ModuleType | None = None


def _library() -> ModuleType:
    """python-escpos, imported on first use. Its import parses a YAML database of printer
    profiles and pickles it into a new temporary folder, which it never removes (one more in
    /tmp at every start of the kiosk): removed here when the kiosk exits. (With
    ESCPOS_CAPABILITIES_PICKLE_DIR set it pickles there instead, and still makes an empty
    folder that nobody can find again.) The import also calls logging.basicConfig(), which
    _quiet_root turns into a no-op."""
    global _imported
    with _import_lock:
        if _imported is None:
            with _quiet_root():
                import escpos.capabilities  # type: ignore[import-untyped]
                import escpos.constants  # type: ignore[import-untyped]
                import escpos.exceptions  # type: ignore[import-untyped]
                import escpos.printer  # type: ignore[import-untyped]
            if "ESCPOS_CAPABILITIES_PICKLE_DIR" not in os.environ:
                atexit.register(shutil.rmtree, escpos.capabilities.pickle_dir, ignore_errors=True)
            _imported = escpos
        return _imported


@contextlib.contextmanager
def _quiet_root() -> Iterator[None]:
    """python-escpos calls logging.basicConfig() on import and logs through logging.info() and
    logging.error(), which call basicConfig() too: in a process whose logging is not set up (the
    self-test, a CLI command) the root logger would print every later warning on stderr. A
    NullHandler meanwhile makes those calls no-ops there; where the kiosk's logging is set up,
    the library's lines go to the kiosk's log as usual."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    guard = logging.NullHandler()
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)
