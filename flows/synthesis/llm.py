"""Synthesis by an LLM, trying the fallback models in order: through litellm, or for an
OpenAI-compatible endpoint directly (flows.synthesis.openai_compat, far cheaper per call).

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
from flows.synthesis import Synthesis, openai_compat
from flows.synthesis.openai_compat import Completion
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


def _complete(route: LlmRoute, model: str, messages: list[dict[str, str]]) -> Completion:
    """OpenAI-compatible endpoints directly (the cheap path), everything else via litellm."""
    if route.api_base is not None and openai_compat.handles(model, route.api_base):
        return openai_compat.complete(
            model,
            messages,
            api_base=route.api_base,
            api_key=route.api_key,
            timeout_seconds=route.timeout_seconds,
            max_tokens=_MAX_COMPLETION_TOKENS,
        )
    response = litellm().completion(
        model=model,
        messages=messages,
        api_base=route.api_base,
        api_key=route.api_key,
        timeout=route.timeout_seconds,
        max_tokens=_MAX_COMPLETION_TOKENS,
        num_retries=0,
        max_retries=0,
    )
    usage = getattr(response, "usage", None)
    return Completion(
        (response.choices[0].message.content or "").strip(),
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
        _cost(response),
    )


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
                answer = _complete(self._route, model, messages)
                if not answer.text:
                    raise PermanentError("the model returned an empty completion")
            except Exception as exc:
                # Providers quote (part of) a refused key in their messages, and the reason
                # is stored in enhancement_history as well as logged.
                reason = f"{type(exc).__name__}: {redact_secrets(str(exc))[:_REASON_CHARS]}"
                log.warning("tenant %s: model %s failed: %s", event.tenant_id, model, reason)
                failures[model] = reason
                transient = transient or is_transient(exc)
                continue
            return Synthesis(
                text=answer.text,
                synthesizer=self.name,
                model=model,
                prompt=render(messages),
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                cost_usd=answer.cost_usd,
                failed_models=failures,
            )
        summary = "; ".join(f"{model}: {reason}" for model, reason in failures.items())
        error = TransientError if transient else PermanentError
        raise error(f"every model failed: {summary}")
