"""The kiosk's sync client and outbox worker (no Qt)."""
