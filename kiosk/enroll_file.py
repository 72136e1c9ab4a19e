"""Enrollment without a keyboard: IT drops an `enroll.toml` (server URL, one-time code, staff
PIN hash) and `gea-kiosk enroll --from-file PATH` enrolls with it (the Linux package's service
does so as root before each start; docs/deploy.md).

The file lives where only root writes (/etc/gea-kiosk), but the kiosk's data must belong to
the kiosk's account: run by root, the command reads the file as root and does the enrollment
in a child process that has become the kiosk's account (`run_as`), so no file in the data
directory is ever root's. The code is spent by the server's answer, so the file is removed
only after a successful enrollment; a failure leaves it for the next try.
"""

from __future__ import annotations

import os
import sys
import tomllib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kiosk import config

# The wrapper (/usr/bin/gea-kiosk) names the kiosk's account; without it, the data directory's owner.
ACCOUNT_ENV = "GEA_KIOSK_ACCOUNT"


class EnrollFileError(Exception):
    """The file cannot be used; the message says what to fix in it."""


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    server_url: str
    code: str = Field(min_length=1)
    pin_hash: str | None = None

    _server_url = field_validator("server_url")(config.check_server_url)
    _pin_hash = field_validator("pin_hash")(config.check_pin_hash)

    def __repr__(self) -> str:  # the one-time code is a secret until spent
        pin_hash = "<set>" if self.pin_hash else None
        return f"EnrollRequest(server_url={self.server_url!r}, code=<hidden>, pin_hash={pin_hash})"

    __str__ = __repr__


def read(path: Path) -> EnrollRequest | None:
    """The request in `path`, or None when there is no file (nothing to do)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnrollFileError(f"{path} cannot be read: {exc}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnrollFileError(f"{path} is not valid TOML: {exc}") from None
    try:
        return EnrollRequest(**values)
    except ValidationError as exc:
        said = config.problems(
            exc, unknown="not a key of enroll.toml (it takes server_url, code and pin_hash)"
        )
        raise EnrollFileError(f"{path}: " + "; ".join(f"{key}: {message}" for key, message in said)) from None


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


def kiosk_account(data_dir: Path) -> Account | None:
    """The account to enroll as when run by root: the one the wrapper names, else the owner of
    the data directory. None when not root (the caller's own account is the kiosk's), or when
    root owns the data directory (a developer's machine: root's own kiosk). Raises when root
    cannot tell whose the kiosk's data is: enrolling as root would lock the kiosk out of it."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return None
    import pwd  # POSIX only

    name = os.environ.get(ACCOUNT_ENV)
    if name:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise EnrollFileError(f"there is no account {name!r} to enroll as: reinstall the kiosk") from None
    else:
        try:
            owner = data_dir.stat().st_uid
        except FileNotFoundError:
            raise EnrollFileError(
                f"{data_dir} does not exist, so root cannot tell which account the kiosk runs as: "
                f"create it owned by that account (the package does), or set {ACCOUNT_ENV}"
            ) from None
        try:
            entry = pwd.getpwuid(owner)
        except KeyError:
            raise EnrollFileError(f"{data_dir} belongs to uid {owner}, which no account has") from None
    if entry.pw_uid == 0:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def run_as(account: Account | None, work: Callable[[], int]) -> int:
    """`work()`'s exit status, run as `account` in a child process (root drops to it for good
    there), or here when there is no account to switch to."""
    if account is None:
        return work()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 1
        try:
            os.initgroups(account.name, account.gid)
            os.setgid(account.gid)
            os.setuid(account.uid)
            os.environ.update(HOME=account.home, USER=account.name, LOGNAME=account.name)
            status = work()
        except SystemExit as exc:
            status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # a bug: say it, and let the parent keep the file
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status)
