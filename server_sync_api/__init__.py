"""The GEA feedback sync service: the HTTP API kiosks push to, and feedback_db behind it."""

__version__ = "0.1.0"
