"""The bundle's entry point: PyInstaller freezes a script, and this one is `gea-kiosk`."""

from kiosk.cli import main

if __name__ == "__main__":
    main()
