"""The citizens' own pages: the QR poster's form at /q/{value} and the portal's at /feedback."""
