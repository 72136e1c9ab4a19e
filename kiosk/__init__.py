"""The GEA counter kiosk: citizen feedback and walk-in grievances, offline first."""

from server_sync_api import __version__ as _server_version

# One version for the whole product; the kiosk and the server are released together.
__version__ = _server_version
