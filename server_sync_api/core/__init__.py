"""Settings and database plumbing shared by the API, the CLI and the migrations."""
