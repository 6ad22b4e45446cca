from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aiops.errors import PermanentError, TransientError
from aiops.retry import backoff_delay, call_with_retries, parse_retry_after


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_returns_after_transient_failures_and_sleeps_between_tries() -> None:
    sleeps: list[float] = []
    fn = Flaky(TransientError("a"), TransientError("b"))
    result = call_with_retries(
        fn, attempts=3, base_delay=1.0, sleep=sleeps.append, jitter=lambda: 1.0
    )
    assert result == "ok"
    assert fn.calls == 3
    assert sleeps == [1.0, 2.0]  # exponential: base * 2**retry


def test_reraises_the_last_transient_error_when_attempts_run_out() -> None:
    sleeps: list[float] = []
    fn = Flaky(TransientError("1"), TransientError("2"), TransientError("3"))
    with pytest.raises(TransientError, match="3"):
        call_with_retries(fn, attempts=3, base_delay=0.1, sleep=sleeps.append)
    assert fn.calls == 3
    assert len(sleeps) == 2


def test_permanent_and_other_errors_are_not_retried() -> None:
    for error in (PermanentError("no"), ValueError("bug")):
        fn = Flaky(error)
        with pytest.raises(type(error)):
            call_with_retries(fn, attempts=5, base_delay=0.1, sleep=lambda _: None)
        assert fn.calls == 1


def test_one_attempt_means_no_retry() -> None:
    fn = Flaky(TransientError("x"))
    with pytest.raises(TransientError):
        call_with_retries(fn, attempts=1, base_delay=0.1, sleep=lambda _: None)
    assert fn.calls == 1
    with pytest.raises(ValueError):
        call_with_retries(fn, attempts=0, base_delay=0.1)


def test_full_jitter_stays_within_the_capped_exponential() -> None:
    assert backoff_delay(0, base_delay=0.5, max_delay=30, jitter=lambda: 0.0) == 0.0
    assert backoff_delay(3, base_delay=0.5, max_delay=30, jitter=lambda: 0.5) == 2.0
    assert backoff_delay(10, base_delay=0.5, max_delay=30, jitter=lambda: 0.999) < 30


def test_retry_after_is_a_floor_on_the_delay() -> None:
    sleeps: list[float] = []
    fn = Flaky(TransientError("429", retry_after=7.0))
    call_with_retries(fn, attempts=2, base_delay=0.1, sleep=sleeps.append, jitter=lambda: 1.0)
    assert sleeps == [7.0]


def test_retry_after_longer_than_max_delay_is_handed_back_not_slept() -> None:
    sleeps: list[float] = []
    fn = Flaky(TransientError("slow down", retry_after=600.0))
    with pytest.raises(TransientError) as caught:
        call_with_retries(fn, attempts=5, base_delay=0.1, max_delay=30, sleep=sleeps.append)
    assert caught.value.retry_after == 600.0
    assert fn.calls == 1
    assert sleeps == []


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
