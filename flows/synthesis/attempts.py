"""Every model tried for one event, across all of the flow's tries, and why each failed.

The synthesizer reports the models of one try (in its Synthesis, or in the error it
raises); the flow retries a transient failure, so this log keeps them all, numbered by
try, for enhancement_history's context ("llm_attempts").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.synthesis import Attempt, EveryModelFailed, Synthesis

CONTEXT_KEY = "llm_attempts"


class AttemptLog:
    def __init__(self) -> None:
        self._tries = 0
        self.records: list[dict[str, Any]] = []

    def run(self, synthesize: Callable[[], Synthesis]) -> Synthesis:
        """One try: its attempts are kept whether it succeeds or raises."""
        self._tries += 1
        try:
            synthesis = synthesize()
        except EveryModelFailed as exc:
            self._keep(exc.attempts)
            raise
        self._keep(synthesis.attempts)
        return synthesis

    def _keep(self, attempts: tuple[Attempt, ...]) -> None:
        self.records += [
            {
                "try": self._tries,
                "model": a.model,
                "api_base": a.api_base,
                "outcome": "failed" if a.error else "succeeded",
                **({"error": a.error} if a.error else {}),
            }
            for a in attempts
        ]

    def into(self, context: dict[str, Any]) -> dict[str, Any]:
        return {**context, CONTEXT_KEY: self.records} if self.records else context
