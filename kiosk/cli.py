"""`gea-kiosk`: the kiosk's command line. Only a placeholder until the kiosk is built."""

from __future__ import annotations

import sys


def main() -> int:
    sys.stderr.write(
        "gea-kiosk is not built yet: this release contains the central database and " "`gea-server` only.\n"
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
