"""Reusable touch widgets: the on-screen keyboard and the staff PIN pad."""

from kiosk.ui.widgets.keyboard import LANGUAGES, MIN_KEY_PX, OnScreenKeyboard, ShiftState
from kiosk.ui.widgets.pin_pad import MAX_PIN_DIGITS, PinPad

__all__ = ["LANGUAGES", "MAX_PIN_DIGITS", "MIN_KEY_PX", "OnScreenKeyboard", "PinPad", "ShiftState"]
