"""Officers' passwords without a database: argon2id hashes, their checks, the rules a new
password meets, and the schedule of the growing sign-in delay."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from server_sync_api import passwords
from server_sync_api.services import officers

PASSWORD = "correct horse battery"


def test_a_hash_is_argon2id_salted_and_checks_only_its_password() -> None:
    first, second = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)

    assert first.startswith("$argon2id$v=19$")
    assert first != second  # a random salt each time
    assert PASSWORD not in first
    assert passwords.verify(first, PASSWORD)
    assert not passwords.verify(first, PASSWORD.upper())
    assert not passwords.verify(first, PASSWORD + " ")
    assert officers.hash_password(PASSWORD).startswith("$argon2id$")


def test_a_password_longer_than_allowed_never_matches() -> None:
    long = "x" * (passwords.MAX_LENGTH + 500)
    assert not passwords.verify(passwords.hash_password("x" * passwords.MAX_LENGTH), long)


def test_a_hash_made_with_weaker_parameters_asks_to_be_renewed() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)

    assert passwords.needs_rehash(weak)
    assert passwords.verify(weak, PASSWORD)  # still checks, so the sign-in can renew it
    assert not passwords.needs_rehash(passwords.hash_password(PASSWORD))
    assert passwords.needs_rehash("not a hash")


@pytest.mark.parametrize(
    "broken",
    ["$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$", "$argon2id$v=19$m=65536,t=3,p=4$", "plain text"],
)
def test_an_unreadable_hash_is_said_without_quoting_it(broken: str) -> None:
    with pytest.raises(passwords.UnreadableHash) as refused:
        passwords.verify(broken, PASSWORD)
    assert broken not in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_checking_against_nothing_matches_nothing_and_raises_nothing() -> None:
    passwords.verify_nothing(PASSWORD)
    passwords.verify_nothing("")
    passwords.verify_nothing("x" * 100_000)


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "at least 12 characters"),
        ("elevenchars", "at least 12 characters"),
        ("x" * 1024 + "y", "at most 1024 characters"),
        ("ana.perez@gov.gd", "not be the email address"),
        ("  Ana.Perez@GOV.gd ", "not be the email address"),
        ("ANA.PEREZ.LONG", None),
        ("zzzzzzzzzzzzzzzzzz", "one character repeated"),
        ("twelve chars", None),
        ("x" * 1023 + "y", None),
    ],
)
def test_the_password_rules_say_which_one_is_broken(password: str, rule: str | None) -> None:
    email = "Ana.Perez@gov.gd"
    problem = passwords.rule_broken(password, email)
    if rule is None:
        assert problem is None
        officers.check_password_rules(password, email)
        return
    assert problem is not None
    assert rule in problem
    with pytest.raises(officers.WeakPassword, match=rule) as refused:
        officers.check_password_rules(password, email)
    if password.strip():
        assert password.strip() not in str(refused.value)


def test_the_local_part_alone_is_refused_when_long_enough() -> None:
    problem = passwords.rule_broken("ana.perez.gd", "ana.perez.gd@gov.gd")
    assert problem is not None
    assert "before the @" in problem


def test_the_delay_doubles_after_three_free_failures_up_to_fifteen_minutes() -> None:
    assert [officers.delay_after(n) for n in range(10)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64]
    assert officers.delay_after(12) == 512
    assert officers.delay_after(13) == officers.MAX_DELAY_S == 15 * 60
    assert officers.delay_after(10_000) == officers.MAX_DELAY_S


def test_results_and_errors_hold_no_secret() -> None:
    refused = officers.TooManyAttempts(90)
    assert "90 s" in str(refused)
    assert refused.retry_after_s == 90
    assert "5 minutes" in str(officers.TooManyAttempts(300))
    assert repr(officers.SignIn(None, "wrong_password")) == (
        "SignIn(officer=None, outcome='wrong_password', retry_after_s=0)"
    )
