"""The kiosk's screens. Each shows what the services and the citizen flow say and emits what
the person did; KioskWindow moves between them."""
