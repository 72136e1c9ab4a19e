"""What can go wrong talking to the sync server, sorted by what the kiosk does about it.

::

    SyncError                    anything the client raises
    ├── RetryLater               network error, timeout, 5xx, 429, a 200 that breaks the
    │                            contract: the same batch is sent again after a backoff
    │                            (`retry_after`: the server's Retry-After, in seconds, if any)
    ├── BatchTooLarge            413: the worker splits the batch in halves and sends at once
    └── NeedsAttention           a person must act; retrying alone will not help
        ├── NotAuthorized        401/403: revoked or never enrolled; stop syncing until
        │                        re-enrolled ("this kiosk is not authorized")
        ├── RequestRefused       any other 4xx for a request as a whole (a kiosk bug or a
        │                        server too old or too new for this kiosk)
        └── EnrollmentRefused    a wrong, used or expired enrollment code

A rejected *item* is not an exception: it is a result in a 200 (ARCHITECTURE 5), settled on
its own. Every exception keeps the original error (the httpx exception, or an
`httpx.HTTPStatusError` for the response) as its `__cause__`. Messages never hold the device
token or payload contents.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the sync client raises.

    `status` is the HTTP status when there was a response; `code` the server's error code
    (`{"error": {"code": ...}}`) when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class RetryLater(SyncError):
    """Try the same request again later: the server is unreachable, slow, failing or busy."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class BatchTooLarge(SyncError):
    """413: the batch is over the server's item or byte limit; send it in smaller parts."""


class NeedsAttention(SyncError):
    """A person must act (IT, or staff at the kiosk); the same request will fail again."""


class NotAuthorized(NeedsAttention):
    """401/403: the device token is unknown or revoked. The kiosk stops syncing and tells staff."""


class RequestRefused(NeedsAttention):
    """The server refused the request as a whole with a 4xx that has no other meaning here."""


class EnrollmentRefused(NeedsAttention):
    """The enrollment code is wrong, used or expired (400 from /devices/enroll)."""
