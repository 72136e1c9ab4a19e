"""The kiosk's PySide6 screens (the only package that imports Qt)."""
