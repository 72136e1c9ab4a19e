"""kiosk.toml's `escpos` key (a thermal ESC/POS printer driven directly): what is accepted, and
what IT is told when it is written wrong or combined with another place for receipts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiosk import config

HOW_TO = 'write it like "tcp://192.0.2.10:9100"'


@pytest.fixture(autouse=True)
def no_kiosk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("GEA_KIOSK_"):
            monkeypatch.delenv(key)


def _load(tmp_path: Path, text: str) -> config.KioskSettings:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, "utf-8")
    return config.load_settings(path)


def _problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(config.KioskConfigError) as caught:
        _load(tmp_path, text)
    return str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "tcp://192.0.2.10:9100",
        "tcp://192.0.2.10",
        "tcp://printer-2.counter.local:9101",
        "tcp://[fd00::10]:9100",
        "usb://04b8:0e15",
        "usb://0416:5011?out_ep=0x03",
    ],
)
def test_printer_addresses_are_accepted(tmp_path: Path, value: str) -> None:
    settings = _load(tmp_path, f'escpos = "{value}"\n')

    assert settings.escpos == value
    assert settings.print_to_pdf is None


def test_the_environment_sets_and_unsets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEA_KIOSK_ESCPOS", "usb://04b8:0e15")
    assert _load(tmp_path, "").escpos == "usb://04b8:0e15"

    monkeypatch.setenv("GEA_KIOSK_ESCPOS", "")
    assert _load(tmp_path, 'escpos = "tcp://192.0.2.10"\n').escpos is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.10", f"'192.0.2.10' is not an ESC/POS printer's address; {HOW_TO}"),
        ("ipp://192.0.2.10", f"'ipp://192.0.2.10' is not an ESC/POS printer's address; {HOW_TO}"),
        ("tcp://", f"'tcp://' names no printer; {HOW_TO}"),
        ("tcp://192.0.2.10:99999", "the port must be a number from 1 to 65535"),
        ("tcp://192.0.2.10:0", "the port must be a number from 1 to 65535"),
        ("tcp://192.0.2.10:", "the port must be a number from 1 to 65535"),
        ("tcp://192.0.2.10:raw", "the port must be a number from 1 to 65535"),
        ("tcp://counter printer:9100", "'counter printer' is not a host name or an IP address"),
        ("tcp://192.0.2.10:9100/queue", "only a host and a port go after tcp://"),
        ("usb://4b8:e15", "vendor:product id, four hexadecimal digits each, as lsusb shows it"),
        ("usb://TM-T88", "vendor:product id, four hexadecimal digits each, as lsusb shows it"),
        ("usb://04b8:0e15?out_ep=0x82", "out_ep must be the printer's bulk OUT endpoint, from 0x01 to 0x0f"),
        ("usb://04b8:0e15?out_ep=three", "out_ep must be the printer's bulk OUT endpoint"),
        ("usb://04b8:0e15?in_ep=0x82", "'in_ep' is not an option of a USB printer (only out_ep is)"),
    ],
)
def test_a_wrong_address_says_how_to_write_it(tmp_path: Path, value: str, expected: str) -> None:
    problem = _problem(tmp_path, f'escpos = "{value}"\n')

    assert problem.startswith(f"{tmp_path / 'kiosk.toml'}: escpos (or GEA_KIOSK_ESCPOS): ")
    assert expected in problem


def test_receipts_go_to_one_place(tmp_path: Path) -> None:
    printer = 'escpos = "tcp://192.0.2.10:9100"\n'

    with_pdf = _problem(tmp_path, printer + f"print_to_pdf = '{tmp_path}'\n")
    with_queue = _problem(tmp_path, printer + 'printer = "Counter 2 thermal"\n')
    on_a4 = _problem(tmp_path, printer + 'paper = "A4"\n')

    assert "escpos (or GEA_KIOSK_ESCPOS): cannot be used together with print_to_pdf" in with_pdf
    assert "escpos (or GEA_KIOSK_ESCPOS): cannot be used together with printer" in with_queue
    assert "remove one of the two" in with_queue
    assert 'prints on an 80 mm roll: leave paper out or set it to "80mm"' in on_a4
    assert _load(tmp_path, printer + 'paper = "80mm"\n').paper == "80mm"


def test_an_address_as_a_print_queue_name_points_to_escpos(tmp_path: Path) -> None:
    problem = _problem(tmp_path, 'printer = "tcp://192.0.2.10:9100"\n')

    assert "printer (or GEA_KIOSK_PRINTER): this is a print queue's name" in problem
    assert 'write escpos = "tcp://192.0.2.10:9100" instead' in problem
    assert _load(tmp_path, 'printer = "Counter 2 thermal"\n').printer == "Counter 2 thermal"
