"""Reading a vendor's rate-limit headers: when nothing is left, how long to hold off."""

from __future__ import annotations

from datetime import UTC, datetime

from itsm.http import RateLimitHeaders, rate_limit_wait

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LIMITS = RateLimitHeaders(remaining=("x-ratelimit-remaining",), reset=("x-ratelimit-reset",))


def test_calls_left_mean_no_wait() -> None:
    assert rate_limit_wait(LIMITS, {"x-ratelimit-remaining": "12"}, NOW) is None
    assert rate_limit_wait(LIMITS, {}, NOW) is None
    assert rate_limit_wait(LIMITS, {"x-ratelimit-remaining": "soon"}, NOW) is None


def test_none_left_waits_for_the_reset_in_any_documented_form() -> None:
    left = {"x-ratelimit-remaining": "0"}
    assert rate_limit_wait(LIMITS, {**left, "x-ratelimit-reset": "17"}, NOW) == 17
    epoch = str(int(NOW.timestamp()) + 30)
    assert rate_limit_wait(LIMITS, {**left, "x-ratelimit-reset": epoch}, NOW) == 30
    iso = "2026-03-01T12:00:45Z"
    assert rate_limit_wait(LIMITS, {**left, "x-ratelimit-reset": iso}, NOW) == 45


def test_none_left_without_a_reset_uses_retry_after_then_the_window() -> None:
    left = {"x-ratelimit-remaining": "0"}
    assert rate_limit_wait(LIMITS, {**left, "retry-after": "9"}, NOW) == 9
    assert rate_limit_wait(LIMITS, left, NOW) == LIMITS.window_seconds
