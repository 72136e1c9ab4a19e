"""The GEA counter kiosk: citizen feedback and walk-in grievances, offline first."""
