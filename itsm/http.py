"""The HTTP layer every ITSM client shares: one request, its answer mapped onto the error
policy, retries, and the vendor's rate limits.

- Unreachable (connect error, connect/pool timeout): TransientError; nothing was sent.
- Failed once sent (read timeout, reset, 5xx, 408): MaybeApplied, a TransientError that
  says the request may have taken effect, so a write looks before it posts again.
- 429: TransientError with the vendor's Retry-After (seconds or an HTTP date).
- Other 4xx: PermanentError with what the operator should do (the vendor's `refusal`).
- A 2xx that is not a JSON object: PermanentError naming the likely cause (a wrong URL).

Rate-limit awareness: vendors that say how many calls are left (Zendesk
`ratelimit-remaining`/`ratelimit-reset`, Freshservice `X-RateLimit-Remaining`, Jira Cloud
`X-RateLimit-Remaining`/`X-RateLimit-Reset`) are not sent another call once the count is 0
until the window resets: a wait up to `max_delay` is slept here, a longer one is handed back
as TransientError(retry_after=...) before anything is sent. The count is kept per client
(one event's write-back), not across processes: the vendor's 429 is the backstop.
Messages never carry a credential: only the method, the path and the vendor's own text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from aiops.errors import PermanentError, TransientError
from aiops.retry import call_with_retries, parse_retry_after

T = TypeVar("T")

MESSAGE_LIMIT = 300


class MaybeApplied(TransientError):
    """Failed after the request was sent (read timeout, reset, 5xx): it may have taken effect."""


class Refused(PermanentError):
    """A 4xx other than 429; `status` says which (a client may act on a 401 itself)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class RateLimitHeaders:
    """Where a vendor says how many calls are left and when the window resets."""

    remaining: tuple[str, ...]
    reset: tuple[str, ...] = ()  # seconds until reset, epoch seconds, or an ISO 8601 time
    window_seconds: float = 60.0  # the wait when the vendor gives no reset time


def _refused(vendor: str, status: int, where: str, message: str) -> str:
    if status == 401:
        return f"{vendor} refused the credentials (401) for {where}: {message}"
    if status == 403:
        return f"{vendor} denied {where} (403): {message}; check the account's permissions"
    return f"{vendor} answered {status} to {where}: {message}"


@dataclass(frozen=True)
class Vendor:
    """How one ITSM words its errors and limits; every field but `name` has a default."""

    name: str  # as an operator knows it, e.g. "Zendesk"
    # The vendor's error text from a parsed error body (None when it is not JSON).
    error_message: Callable[[Any], str] = lambda payload: "no error message"
    # What an operator should do about a 4xx other than 429: (status, where, message).
    refusal: Callable[[int, str, str], str] | None = None
    not_json_hint: str = "check the base URL"
    rate_limit: RateLimitHeaders | None = None

    def refused(self, status: int, where: str, message: str) -> str:
        if self.refusal is not None:
            return self.refusal(status, where, message)
        return _refused(self.name, status, where, message)


def _seconds_until(value: str, now: datetime) -> float | None:
    """A reset header as seconds from now: delta seconds, epoch seconds or ISO 8601."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if number > 1_000_000_000:  # an epoch time, not a delay
        return max(0.0, number - now.timestamp())
    return max(0.0, number)


def rate_limit_wait(
    limits: RateLimitHeaders, headers: Mapping[str, str], now: datetime
) -> float | None:
    """Seconds to hold off when the answer says no calls are left, else None."""
    remaining = next((headers[h] for h in limits.remaining if h in headers), None)
    if remaining is None or not remaining.strip().lstrip("-").isdigit():
        return None
    if int(remaining) > 0:
        return None
    for name in limits.reset:
        if name in headers and (wait := _seconds_until(headers[name], now)) is not None:
            return wait
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    return retry_after if retry_after is not None else limits.window_seconds


class ItsmHttp:
    """One tenant's ITSM REST API at `base_url`, with `headers` (auth included) on every call."""

    def __init__(
        self,
        vendor: Vendor,
        base_url: str,
        headers: Mapping[str, str],
        http: httpx.Client,
        *,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vendor = vendor
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._http = http
        self._timeout = timeout_seconds
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._not_before = 0.0

    def retrying(self, fn: Callable[[], T]) -> T:
        """`fn` retried on TransientError with backoff and jitter, honouring Retry-After."""
        policy = self._retry
        return call_with_retries(
            fn,
            attempts=policy.attempts,
            base_delay=policy.base_delay,
            max_delay=policy.max_delay,
            sleep=policy.sleep,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        """One request, retried while it fails transiently."""
        return self.retrying(lambda: self.send(method, path, **kwargs))

    def post_once(self, post: Callable[[], T], find_existing: Callable[[], T | None]) -> T:
        """`post` retried; after a failure that may have landed, `find_existing` is asked
        first, so a slow ITSM never gets the same note twice."""
        maybe_posted = False

        def attempt() -> T:
            nonlocal maybe_posted
            if maybe_posted:
                existing = find_existing()
                if existing is not None:
                    return existing
            try:
                return post()
            except MaybeApplied:
                maybe_posted = True
                raise

        return self.retrying(attempt)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Mapping[str, Any]:
        """One request, no retry: the JSON object answered, or the error it maps to."""
        payload = self.send_json(method, path, params=params, json=json, data=data)
        if not isinstance(payload, Mapping):
            raise PermanentError(
                f"{self.vendor.name} answered {method} {path} with something other than a "
                f"JSON object; {self.vendor.not_json_hint}"
            )
        return payload

    def send_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """As `send`, for the vendors whose lists are bare JSON arrays (ConnectWise)."""
        name = self.vendor.name
        where = f"{method} {path}"
        self._hold_off(where)
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                params=params,
                json=json,
                data=data,
                headers=self._headers,
                timeout=self._timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"{name} unreachable for {where}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise MaybeApplied(f"{name} failed during {where}: {type(exc).__name__}") from exc
        self._note_rate_limit(response.headers)

        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            raise TransientError(f"{name} rate-limited {where} (429)", retry_after=retry_after)
        if status >= 500 or status == 408:
            raise MaybeApplied(f"{name} answered {status} to {where}", retry_after=retry_after)
        if status == 204:  # an edit answers with no body
            return {}
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not 200 <= status < 300:
            message = self.vendor.error_message(payload)[:MESSAGE_LIMIT]
            raise Refused(self.vendor.refused(status, where, message), status)
        if payload is None:
            raise PermanentError(
                f"{name} answered {where} with something other than JSON; "
                f"{self.vendor.not_json_hint}"
            )
        return payload

    def _hold_off(self, where: str) -> None:
        wait = self._not_before - self._clock()
        if wait <= 0:
            return
        if wait > self._retry.max_delay:
            raise TransientError(
                f"{self.vendor.name}'s rate limit is used up; not sending {where} for {wait:.0f} s",
                retry_after=wait,
            )
        self._retry.sleep(wait)

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        limits = self.vendor.rate_limit
        if limits is None:
            return
        wait = rate_limit_wait(limits, headers, datetime.now(UTC))
        if wait is not None:
            self._not_before = self._clock() + wait
