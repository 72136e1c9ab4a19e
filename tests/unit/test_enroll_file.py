"""IT's enroll.toml read as kiosk.enroll_file reads it: every mistake named, key by key, and
the one-time code never in a repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import enroll_file, pin


def test_a_good_file_is_read_and_its_code_stays_out_of_the_repr(tmp_path: Path) -> None:
    path = tmp_path / "enroll.toml"
    pin_hash = pin.hash_pin("482915")
    path.write_text(f'server_url = "https://feedback.gov.gd/"\ncode = "WAX3-7SC8"\npin_hash = "{pin_hash}"\n')
    request = enroll_file.read(path)
    assert request is not None
    assert (request.server_url, request.code, request.pin_hash) == (
        "https://feedback.gov.gd",
        "WAX3-7SC8",
        pin_hash,
    )
    assert "WAX3" not in repr(request)
    assert "WAX3" not in str(request)


def test_no_file_is_nothing_to_do(tmp_path: Path) -> None:
    assert enroll_file.read(tmp_path / "enroll.toml") is None


def test_each_mistake_is_named_with_what_to_write(tmp_path: Path) -> None:
    path = tmp_path / "enroll.toml"
    path.write_text('server_url = "feedback.gov.gd"\npin = "1234"\n')
    with pytest.raises(enroll_file.EnrollFileError) as raised:
        enroll_file.read(path)
    assert str(raised.value) == (
        f"{path}: server_url: write it like https://feedback.gov.gd; code: missing; "
        "pin: not a key of enroll.toml (it takes server_url, code and pin_hash)"
    )


def test_a_file_that_is_not_toml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "enroll.toml"
    path.write_text("server_url = https://feedback.gov.gd\n")
    with pytest.raises(enroll_file.EnrollFileError, match=r"enroll\.toml is not valid TOML"):
        enroll_file.read(path)
