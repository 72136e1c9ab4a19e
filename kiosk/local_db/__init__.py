"""The kiosk's SQLite file: outbox, catalog cache, local settings (no Qt)."""
