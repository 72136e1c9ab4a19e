"""What the API and the CLI do, as plain functions over a database connection."""
