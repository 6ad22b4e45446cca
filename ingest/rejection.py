"""A webhook answered with an error: the status, the metric outcome and what the sender reads."""

from __future__ import annotations

from typing import Any


class Rejection(Exception):
    def __init__(
        self,
        status: int,
        outcome: str,
        detail: Any,
        *,
        retry_after: int | None = None,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(outcome)
        self.status = status
        self.outcome = outcome
        self.detail = detail
        self.retry_after = retry_after
        self.reason = reason  # for our log only; never a secret, signature or body
        self.event_id = event_id
