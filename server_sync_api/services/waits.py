"""A wait as people are told it (a Retry-After in words)."""

from __future__ import annotations


def minutes(seconds: int) -> int:
    """Whole minutes, rounded up, at least one."""
    return max(1, -(-seconds // 60))


def in_words(seconds: int) -> str:
    """'1 minute' or 'N minutes', in English (the JSON API's messages)."""
    count = minutes(seconds)
    return "1 minute" if count == 1 else f"{count} minutes"
