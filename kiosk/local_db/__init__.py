"""The kiosk's SQLite file: outbox, catalog cache, device identity, local settings. No Qt."""
