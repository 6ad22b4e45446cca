"""The error policy in types: transient errors are retried, permanent ones fail fast."""


class TransientError(Exception):
    """Worth retrying: timeouts, 429, 5xx, connection resets.

    `retry_after` is the wait in seconds the other side asked for (HTTP Retry-After), if any.
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying will not help: bad credentials, other 4xx, malformed data."""
