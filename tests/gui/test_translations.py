"""The Spanish translation is complete and its compiled file is current: a string added to the
UI without Spanish, or a .ts edited without recompiling, fails here (fix: make translations)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from kiosk.ui import resources

BIN = Path(sys.executable).parent
TS = resources.root() / "i18n" / "kiosk_es.ts"
QM = resources.root() / "i18n" / "kiosk_es.qm"
UI_SOURCES = sorted(str(p) for p in (Path(resources.__file__).parent).rglob("*.py"))


def messages(ts: Path) -> dict[tuple[str, str], ET.Element]:
    found = {}
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            found[(name, message.findtext("source") or "")] = message
    return found


def test_every_ui_string_has_spanish(tmp_path: Path) -> None:
    fresh = tmp_path / "kiosk_es.ts"
    shutil.copy(TS, fresh)
    subprocess.run(
        [BIN / "pyside6-lupdate", *UI_SOURCES, "-ts", str(fresh), "-no-obsolete", "-silent"], check=True
    )
    current = messages(fresh)
    assert set(current) == set(messages(TS)), "the UI's strings changed: run make translations"
    untranslated = [
        key
        for key, message in current.items()
        if (message.find("translation") is None) or message.find("translation").get("type") == "unfinished"  # type: ignore[union-attr]
    ]
    assert untranslated == []


def test_the_compiled_translation_is_current(tmp_path: Path) -> None:
    rebuilt = tmp_path / "kiosk_es.qm"
    subprocess.run([BIN / "pyside6-lrelease", str(TS), "-qm", str(rebuilt), "-silent"], check=True)
    assert rebuilt.read_bytes() == QM.read_bytes(), "kiosk_es.qm is stale: run make translations"
