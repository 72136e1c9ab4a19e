"""Request bodies the routes read themselves, with a bound: a body larger than the route takes
is refused from its declared length or as soon as the stream passes the bound, never read
whole first."""

from __future__ import annotations

from fastapi import Request


class BodyTooLarge(Exception):
    """The body is longer than the route takes."""


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_bounded(request: Request, max_bytes: int) -> bytes:
    """The whole body, or BodyTooLarge once it is known to exceed `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
