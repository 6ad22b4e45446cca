"""The error policy in types: transient errors are retried, permanent ones fail fast."""


class TransientError(Exception):
    """Worth retrying: timeouts, 429, 5xx, connection resets."""


class PermanentError(Exception):
    """Retrying will not help: bad credentials, other 4xx, malformed data."""
