"""Build the kiosk's Debian package from the bundle: `make deb` (after `make bundle`).

    python installer/linux/build_deb.py --bundle dist/gea-kiosk --out dist [--version V]

The package (dist/gea-kiosk_<version>_<arch>.deb, ARCHITECTURE section 2) holds:
- /opt/gea-kiosk/: the bundle as built;
- /usr/bin/gea-kiosk: the wrapper that points every command at the installed paths and runs
  root's commands as the kiosk's account (gea-kiosk.sh);
- /etc/gea-kiosk/kiosk.toml: IT's settings, a conffile (edits survive upgrades);
- /lib/systemd/system/gea-kiosk@.service and /etc/pam.d/gea-kiosk: kiosk mode under cage;
- /usr/share/doc/gea-kiosk/: deploy.md, the enroll.toml example, the desktop autostart entry;
- the maintainer scripts (postinst, prerm, postrm) beside this file.

It needs only dpkg-deb (Debian's dpkg), which every Debian and Ubuntu machine has.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACKAGE = "gea-kiosk"
MAINTAINER = "GEA Feedback maintainers <gea-feedback@users.noreply.github.com>"
# Installed paths (deploy.md and the wrapper name them too).
PREFIX = Path("opt/gea-kiosk")
CONFFILES = ("/etc/gea-kiosk/kiosk.toml", "/etc/pam.d/gea-kiosk")
DESCRIPTION = """\
Service-counter feedback kiosk (GEA)
 A touchscreen kiosk where citizens rate the service they received and staff log
 walk-in grievances. It keeps every submission in a local queue until the central
 feedback server has it, prints receipts with a QR code, and runs full screen on
 its own under the cage compositor (gea-kiosk@tty7.service)."""


def read_version() -> str:
    """The version in kiosk/__init__.py, read as text so the build needs no import."""
    text = (REPO / "kiosk" / "__init__.py").read_text("utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("kiosk/__init__.py has no __version__")
    return match.group(1)


def depends() -> str:
    lines = (HERE / "depends.txt").read_text("utf-8").splitlines()
    return ", ".join(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()


def put(source: Path, root: Path, target: str, mode: int) -> None:
    destination = root / target.lstrip("/")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    destination.chmod(mode)


def stage(bundle: Path, root: Path, version: str, arch: str) -> None:
    shutil.copytree(bundle, root / PREFIX, symlinks=True)
    put(HERE / "gea-kiosk.sh", root, "/usr/bin/gea-kiosk", 0o755)
    put(REPO / "installer" / "kiosk.toml", root, "/etc/gea-kiosk/kiosk.toml", 0o640)
    put(HERE / "pam.d-gea-kiosk", root, "/etc/pam.d/gea-kiosk", 0o644)
    put(HERE / "gea-kiosk@.service", root, "/lib/systemd/system/gea-kiosk@.service", 0o644)
    docs = "/usr/share/doc/gea-kiosk"
    put(REPO / "docs" / "deploy.md", root, f"{docs}/deploy.md", 0o644)
    put(HERE / "enroll.toml.example", root, f"{docs}/examples/enroll.toml", 0o644)
    put(HERE / "gea-kiosk.desktop", root, f"{docs}/examples/gea-kiosk.desktop", 0o644)
    put(
        REPO / "resources" / "OFL-AtkinsonHyperlegible.txt",
        root,
        f"{docs}/OFL-AtkinsonHyperlegible.txt",
        0o644,
    )
    control = root / "DEBIAN"
    control.mkdir()
    for script in ("postinst", "prerm", "postrm"):
        put(HERE / script, root, f"DEBIAN/{script}", 0o755)
    (control / "conffiles").write_text("".join(f"{path}\n" for path in CONFFILES), "utf-8")
    size_kib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    (control / "control").write_text(
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {size_kib}\n"
        f"Depends: {depends()}\n"
        # Not printer-driver-cups-pdf: installed, it makes a PDF queue the default printer, and
        # a kiosk without a printer of its own would "print" into files unseen.
        "Suggests: cups, printer-driver-cups-pdf\n"
        "Section: misc\n"
        "Priority: optional\n"
        f"Description: {DESCRIPTION}\n",
        "utf-8",
    )


def build(bundle: Path, out: Path, version: str) -> Path:
    if not (bundle / PACKAGE).is_file():
        raise SystemExit(f"no bundle at {bundle}: run make bundle first")
    arch = architecture()
    out.mkdir(parents=True, exist_ok=True)
    package = out / f"{PACKAGE}_{version}_{arch}.deb"
    with tempfile.TemporaryDirectory(prefix="gea-kiosk-deb-") as scratch:
        root = Path(scratch) / "root"
        stage(bundle, root, version, arch)
        # gzip: every dpkg reads it, and it costs seconds where xz costs minutes on two cores.
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(package)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle's folder (dist/gea-kiosk)")
    parser.add_argument("--out", type=Path, required=True, help="where the .deb goes")
    parser.add_argument("--version", default=None, help="the package's version (default: the kiosk's)")
    args = parser.parse_args()
    package = build(args.bundle, args.out, args.version or read_version())
    print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
