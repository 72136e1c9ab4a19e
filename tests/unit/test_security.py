"""Enrollment codes, token digests and address hashes."""

from __future__ import annotations

import re

import pytest

from server_sync_api import security


def test_enrollment_codes_are_three_groups_of_crockford_characters() -> None:
    codes = {security.new_enrollment_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", code)


@pytest.mark.parametrize(
    "typed",
    ["7QX4-K2M9-A3D0", "7qx4-k2m9-a3d0", "7QX4 K2M9 A3D0", "7QX4K2M9A3D0", " 7qx4-k2m9-a3dO "],
)
def test_how_it_staff_type_a_code_does_not_matter(typed: str) -> None:
    assert security.enrollment_code_digest(typed) == security.enrollment_code_digest("7QX4-K2M9-A3D0")


def test_look_alike_letters_read_as_digits() -> None:
    assert security.normalize_enrollment_code("il-o") == "110"


def test_different_codes_have_different_digests() -> None:
    assert security.enrollment_code_digest("7QX4-K2M9-A3D0") != security.enrollment_code_digest(
        "7QX4-K2M9-A3D1"
    )


def test_tokens_are_long_and_unique() -> None:
    tokens = {security.new_device_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 43 for token in tokens)


def test_address_hash_is_keyed() -> None:
    a = security.ip_hash("192.0.2.10", "k" * 32)
    assert re.fullmatch(r"[0-9a-f]{64}", a)
    assert a == security.ip_hash("192.0.2.10", "k" * 32)
    assert a != security.ip_hash("192.0.2.10", "j" * 32)
    assert a != security.ip_hash("192.0.2.11", "k" * 32)


def test_same_digest_compares_values() -> None:
    assert security.same_digest("ab" * 32, "ab" * 32)
    assert not security.same_digest("ab" * 32, "ac" * 32)
