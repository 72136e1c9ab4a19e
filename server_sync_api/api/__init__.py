"""The HTTP API (ARCHITECTURE section 5): routes, dependencies, error handling."""
