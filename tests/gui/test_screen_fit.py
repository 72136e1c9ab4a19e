"""The kiosk on a screen smaller than its layout (issue 11: seen cut off at the right edge in a
1280x720 cage session): it says so, in the log and on the staff screen, instead of hiding a
face from citizens without a word."""

from __future__ import annotations

from PySide6.QtCore import QSize

from kiosk.ui.app import misfit
from tests.gui.conftest import WindowFactory


def test_a_kiosk_cut_off_by_a_small_screen_says_what_it_needs(make_window: WindowFactory) -> None:
    need = make_window().minimumSizeHint()
    problem = misfit(need, QSize(1280, 720))
    assert problem is not None
    size = f"{need.width()}x{need.height()}"
    assert problem.startswith(f"The kiosk needs a screen of at least {size} pixels and this one has 1280x720")


def test_the_reference_screen_takes_the_whole_kiosk(make_window: WindowFactory) -> None:
    assert misfit(make_window().minimumSizeHint(), QSize(1920, 1080)) is None
