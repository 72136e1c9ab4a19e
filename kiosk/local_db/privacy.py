"""The data directory holds citizens' words, the device token and logs: only the kiosk's own
user may read it. The folder is 0700 and every file in it 0600, set when each is created and
repaired at every start-up (a copy restored from a backup, a file an editor re-created).

POSIX modes only: on Windows a file's mode bits do not say who may read it (its ACL does,
and the installer gives the data folder to the kiosk's account), so nothing is checked or
changed there."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
# Bits that let another account in.
_OTHERS: Final = 0o077


def make_private_dir(directory: Path) -> None:
    """Create `directory` (and its parents) if missing; the directory itself ends 0700."""
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if os.name == "posix" and stat.S_IMODE(directory.stat().st_mode) != DIR_MODE:
        os.chmod(directory, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 unless it exists, so the program that fills it (SQLite, a
    log handler) never makes it readable by others first, whatever the umask."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)


def too_wide(directory: Path) -> list[Path]:
    """Paths in the data directory (itself included) that another account may read or enter."""
    found = []
    for path in _own_tree(directory):
        mode = _mode(path)
        if mode is not None and stat.S_IMODE(mode) & _OTHERS:
            found.append(path)
    return found


def repair(directory: Path) -> list[Path]:
    """Make the data directory 0700 and everything in it 0700 (folders) or 0600 (files);
    returns what was changed. Symbolic links are left alone (their target is not ours)."""
    changed = []
    for path in _own_tree(directory):
        mode = _mode(path)
        if mode is None:
            continue
        wanted = DIR_MODE if stat.S_ISDIR(mode) else FILE_MODE
        if stat.S_IMODE(mode) != wanted:
            try:
                os.chmod(path, wanted)
            except FileNotFoundError:
                continue
            changed.append(path)
    return changed


def _mode(path: Path) -> int | None:
    """None for a file gone since the folder was listed (SQLite's -wal and -shm when another
    process closes the database, a log being rotated, a receipt's .part renamed)."""
    try:
        return path.lstat().st_mode
    except FileNotFoundError:
        return None


def _own_tree(directory: Path) -> list[Path]:
    if os.name != "posix" or not directory.is_dir():
        return []
    paths = [directory]
    for root, folders, files in os.walk(directory):
        base = Path(root)
        paths.extend(base / name for name in folders if not (base / name).is_symlink())
        paths.extend(base / name for name in files if not (base / name).is_symlink())
    return paths
