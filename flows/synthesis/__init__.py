"""Turning a ticket and its context into a note: an LLM through litellm, or offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiops.errors import PermanentError, TransientError
from aiops.events import Event
from flows.context import Context


@dataclass(frozen=True)
class Attempt:
    """One model asked once: `error` says why it failed, None when it answered."""

    model: str
    api_base: str | None
    error: str | None = None


class EveryModelFailed(Exception):
    """No model of the chain answered; `attempts` says what each one did."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...]) -> None:
        super().__init__(message)
        self.attempts = attempts


class EveryModelFailedTransient(EveryModelFailed, TransientError):
    """At least one model failed in a way worth trying again (timeout, 429, 5xx)."""


class EveryModelFailedPermanent(EveryModelFailed, PermanentError):
    """Every model refused for good (bad key, unknown model, 4xx)."""


@dataclass(frozen=True)
class Synthesis:
    text: str
    synthesizer: str  # "litellm" | "offline"
    model: str | None = None
    prompt: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    # Every model asked in this try, in order: the failed ones, then the one that answered.
    attempts: tuple[Attempt, ...] = field(default=())


class Synthesizer(Protocol):
    def synthesize(self, event: Event, context: Context) -> Synthesis:
        """Raises aiops.errors.TransientError or PermanentError when no note can be made."""
        ...
