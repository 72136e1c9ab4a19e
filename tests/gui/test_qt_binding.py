"""PySide6-Essentials 6.12.0 on CPython 3.11 takes a reference from None on every Qt call that
returns nothing; after a few thousand the interpreter aborts (none_dealloc). The kiosk pins an
earlier release; this test fails on any release that brings the bug back."""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF

CALLS = 10_000


def test_void_qt_calls_leave_none_alone() -> None:
    point = QPointF()
    before = sys.getrefcount(None)
    for i in range(CALLS):
        point.setX(float(i))
    lost = before - sys.getrefcount(None)
    assert lost < CALLS // 10, f"{lost} references to None lost over {CALLS} calls"
