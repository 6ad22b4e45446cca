"""Turning a ticket and its context into a note: an LLM through litellm, or offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiops.events import Event
from flows.context import Context


@dataclass(frozen=True)
class Synthesis:
    text: str
    synthesizer: str  # "litellm" | "offline"
    model: str | None = None
    prompt: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    # Models tried before the one that answered, with why they failed.
    failed_models: dict[str, str] = field(default_factory=dict)


class Synthesizer(Protocol):
    def synthesize(self, event: Event, context: Context) -> Synthesis:
        """Raises aiops.errors.TransientError or PermanentError when no note can be made."""
        ...
