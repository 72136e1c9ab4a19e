"""Subcommands of `gea-server` that live in their own modules (cli.py registers them)."""
