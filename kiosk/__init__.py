"""The GEA counter kiosk: citizen feedback and walk-in grievances, offline first."""

# The kiosk's one version: `gea-kiosk --version`, every heartbeat, the User-Agent and the
# self-test read it here, and the package's metadata is built from it (pyproject.toml), so a
# frozen bundle, which has no metadata, still knows it.
__version__ = "0.1.0"
