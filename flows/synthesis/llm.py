"""Synthesis by an LLM through litellm, trying the fallback models in order.

litellm comes from aiops.llm, which imports it without network. Our own loop does the
fallbacks (not litellm's) so every model tried, and why it failed, is on record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiops.errors import PermanentError, TransientError
from aiops.events import Event
from aiops.llm import is_transient, litellm
from aiops.redaction import redact_secrets
from flows.context import Context
from flows.synthesis import Synthesis
from flows.synthesis.prompt import build_messages, render

log = logging.getLogger(__name__)

_REASON_CHARS = 300
_MAX_COMPLETION_TOKENS = 1_000


@dataclass(frozen=True)
class LlmRoute:
    """Models to try in order, and where and how to reach them."""

    models: tuple[str, ...]
    api_base: str | None
    api_key: str | None = field(repr=False)
    timeout_seconds: float


def _cost(response: Any) -> float:
    try:
        return float(litellm().completion_cost(completion_response=response) or 0.0)
    except Exception:
        # Models missing from litellm's price list (self-hosted, new): cost unknown.
        return 0.0


class LlmSynthesizer:
    name = "litellm"

    def __init__(self, route: LlmRoute) -> None:
        if not route.models:
            raise ValueError("an LLM route needs at least one model")
        self._route = route

    def synthesize(self, event: Event, context: Context) -> Synthesis:
        messages = build_messages(event, context)
        failures: dict[str, str] = {}
        transient = False
        for model in self._route.models:
            try:
                response = litellm().completion(
                    model=model,
                    messages=messages,
                    api_base=self._route.api_base,
                    api_key=self._route.api_key,
                    timeout=self._route.timeout_seconds,
                    max_tokens=_MAX_COMPLETION_TOKENS,
                    num_retries=0,
                    max_retries=0,
                )
                text = (response.choices[0].message.content or "").strip()
                if not text:
                    raise PermanentError("the model returned an empty completion")
            except Exception as exc:
                # Providers quote (part of) a refused key in their messages, and the reason
                # is stored in enhancement_history as well as logged.
                reason = f"{type(exc).__name__}: {redact_secrets(str(exc))[:_REASON_CHARS]}"
                log.warning("tenant %s: model %s failed: %s", event.tenant_id, model, reason)
                failures[model] = reason
                transient = transient or is_transient(exc)
                continue
            usage = getattr(response, "usage", None)
            return Synthesis(
                text=text,
                synthesizer=self.name,
                model=model,
                prompt=render(messages),
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=_cost(response),
                failed_models=failures,
            )
        summary = "; ".join(f"{model}: {reason}" for model, reason in failures.items())
        error = TransientError if transient else PermanentError
        raise error(f"every model failed: {summary}")
