"""The GEA feedback sync service: the HTTP API kiosks push to, and feedback_db behind it."""

from importlib import metadata

# The product is released as one distribution, versioned by kiosk.__version__ (pyproject.toml).
try:
    __version__ = metadata.version("gea-feedback")
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
