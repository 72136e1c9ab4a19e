"""One version for the kiosk (issue 10): `kiosk.__version__`, which the package's metadata is
built from, and which nothing in `kiosk/` takes from the server's package."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

import kiosk
import server_sync_api

KIOSK = Path(kiosk.__file__).parent


def _server_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level) of every import of server_sync_api in `path`."""
    tree = ast.parse(path.read_text("utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "server_sync_api" or name.startswith("server_sync_api.") for name in names):
            found.append((node.lineno, id(node) in top_level))
    return found


def test_nothing_in_the_kiosk_imports_the_server_but_the_demo_lazily() -> None:
    offenders = {}
    for path in sorted(KIOSK.rglob("*.py")):
        imports = _server_imports(path)
        if path.name == "demo.py" and path.parent == KIOSK:
            imports = [(line, top) for line, top in imports if top]  # inside a function: lazily
        if imports:
            offenders[str(path.relative_to(KIOSK.parent))] = [line for line, _ in imports]
    assert offenders == {}
    assert _server_imports(KIOSK / "demo.py"), "the demo still needs the server (lazily)"


def test_the_installed_package_carries_the_kiosks_version() -> None:
    assert metadata.version("gea-feedback") == kiosk.__version__, "reinstall: make test does"
    assert server_sync_api.__version__ == kiosk.__version__
