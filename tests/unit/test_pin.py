"""kiosk/pin.py: the PIN hashes IT may give a kiosk (ARCHITECTURE 7: scrypt or argon2id in PHC
string form), checked against vectors made by other tools, and kiosk.toml's pin_hash check."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from kiosk import config, pin

# passlib's documented example: passlib.hash.scrypt.hash("password") (ln=16, r=8, p=1).
PASSLIB_SCRYPT = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"

# RFC 7914 section 12, third vector: scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64).
RFC7914_KEY = bytes.fromhex(
    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
    "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def scrypt_phc(pin_text: str, log2_n: int = 4, r: int = 8, p: int = 1) -> str:
    """A scrypt PHC string made here with hashlib (cheap parameters: these tests are not about cost)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin_text.encode(), salt=salt, n=2**log2_n, r=r, p=p, dklen=32)
    return f"$scrypt$ln={log2_n},r={r},p={p}${b64(salt)}${b64(digest)}"


def test_a_scrypt_hash_written_by_passlib_is_checked() -> None:
    assert pin.verify_pin(PASSLIB_SCRYPT, "password")
    assert not pin.verify_pin(PASSLIB_SCRYPT, "passwore")


def test_the_rfc_7914_scrypt_vector_is_checked() -> None:
    phc = f"$scrypt$ln=10,r=8,p=16${b64(b'NaCl')}${b64(RFC7914_KEY)}"
    assert pin.verify_pin(phc, "password")
    assert not pin.verify_pin(phc, "Password")


def test_a_scrypt_pin_hash_opens_with_its_pin_alone() -> None:
    phc = scrypt_phc("135790")
    pin.check_hash(phc)
    assert pin.verify_pin(phc, "135790")
    assert not pin.verify_pin(phc, "135791")
    assert not pin.verify_pin(phc, "")


def test_an_argon2id_pin_hash_from_gea_kiosk_still_opens() -> None:
    phc = pin.hash_pin("135790")
    pin.check_hash(phc)
    assert pin.verify_pin(phc, "135790")
    assert not pin.verify_pin(phc, "135791")


UNREADABLE = [
    pytest.param("", id="empty"),
    pytest.param("135790", id="the PIN itself"),
    pytest.param("$2b$12$abcdefghijklmnopqrstuu", id="bcrypt"),
    pytest.param("$argon2id$garbage", id="argon2id mistyped"),
    pytest.param("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$", id="argon2id cut short"),
    pytest.param("$scrypt$", id="scrypt, nothing after"),
    pytest.param("$scrypt$ln=4,r=8$c2FsdA$" + "A" * 43, id="scrypt without p"),
    pytest.param("$scrypt$ln=4,r=8,p=1,x=2$c2FsdA$" + "A" * 43, id="scrypt unknown parameter"),
    pytest.param("$scrypt$ln=x,r=8,p=1$c2FsdA$" + "A" * 43, id="scrypt ln not a number"),
    pytest.param("$scrypt$ln=0,r=8,p=1$c2FsdA$" + "A" * 43, id="scrypt ln 0"),
    pytest.param("$scrypt$ln=30,r=8,p=1$c2FsdA$" + "A" * 43, id="scrypt asks for 128 GiB"),
    pytest.param("$scrypt$ln=4,r=8,p=1000$c2FsdA$" + "A" * 43, id="scrypt p too large"),
    pytest.param("$scrypt$ln=4,r=8,p=1$!!!!$" + "A" * 43, id="scrypt salt not base64"),
    pytest.param("$scrypt$ln=4,r=8,p=1$c2FsdA$", id="scrypt without its hash"),
    pytest.param(PASSLIB_SCRYPT[:-30], id="scrypt hash cut short"),
]


@pytest.mark.parametrize("broken", UNREADABLE)
def test_a_hash_that_cannot_be_read_is_not_a_wrong_pin(broken: str) -> None:
    # False would mean "wrong PIN" (a failure counted towards the lockout); no PIN can match a
    # broken hash, so it is an error for IT instead.
    with pytest.raises(pin.UnreadableHash):
        pin.check_hash(broken)
    with pytest.raises(pin.UnreadableHash):
        pin.verify_pin(broken, "135790")


def write_toml(tmp_path: Path, pin_hash: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f"pin_hash = '{pin_hash}'\n", "utf-8")
    return path


@pytest.fixture(autouse=True)
def no_kiosk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("GEA_KIOSK_"):
            monkeypatch.delenv(key)


def test_kiosk_toml_takes_a_scrypt_or_argon2id_pin_hash(tmp_path: Path) -> None:
    for good in (PASSLIB_SCRYPT, scrypt_phc("135790"), pin.hash_pin("135790")):
        assert config.load_settings(write_toml(tmp_path, good)).pin_hash == good


def test_kiosk_toml_refuses_a_pin_hash_it_could_never_check(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "$scrypt$ln=16,r=8$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDl")
    with pytest.raises(config.KioskConfigError) as caught:
        config.load_settings(path)
    message = str(caught.value)
    assert "pin_hash" in message
    assert "ln=N,r=N,p=N" in message  # what is wrong ...
    assert "gea-kiosk pin-hash" in message  # ... and where a right one comes from
