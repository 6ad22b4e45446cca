"""Synthesis by an LLM, trying the fallback models in order: through litellm, or for an
OpenAI-compatible endpoint directly (flows.synthesis.openai_compat, far cheaper per call).

litellm comes from aiops.llm, which imports it without network. Our own loop does the
fallbacks (not litellm's) so every model tried, and why it failed, is on record. Each
model of the chain has its own endpoint and key (OpenAI, then Azure OpenAI, then
Anthropic, each with its own key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import StatusCode

from aiops.endpoints import EndpointRefusedError
from aiops.errors import PermanentError
from aiops.events import Event
from aiops.llm import LlmTarget, is_transient, litellm
from aiops.redaction import redact_secrets
from aiops.tracing import started_span
from flows.context import Context
from flows.synthesis import (
    Attempt,
    EveryModelFailedPermanent,
    EveryModelFailedTransient,
    Synthesis,
    openai_compat,
)
from flows.synthesis.instructions import Messages
from flows.synthesis.openai_compat import Completion
from flows.synthesis.prompt import build_messages, render

log = logging.getLogger(__name__)

_REASON_CHARS = 300
_MAX_COMPLETION_TOKENS = 1_000


@dataclass(frozen=True)
class LlmRoute:
    """Models to try in order, each with where and how to reach it."""

    targets: tuple[LlmTarget, ...]
    timeout_seconds: float

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(t.model for t in self.targets)


def _cost(response: Any) -> float:
    try:
        return float(litellm().completion_cost(completion_response=response) or 0.0)
    except Exception:
        # Models missing from litellm's price list (self-hosted, new): cost unknown.
        return 0.0


def _complete(
    target: LlmTarget, timeout_seconds: float, messages: list[dict[str, str]]
) -> Completion:
    """OpenAI-compatible endpoints directly (the cheap path), everything else via litellm."""
    if target.api_base is not None and openai_compat.handles(target.model, target.api_base):
        return openai_compat.complete(
            target.model,
            messages,
            api_base=target.api_base,
            api_key=target.api_key,
            timeout_seconds=timeout_seconds,
            max_tokens=_MAX_COMPLETION_TOKENS,
            public_only=target.public_only,
        )
    if target.public_only and target.api_base is not None:
        # litellm would open connections of its own, unchecked as they connect; the API
        # refuses such a tenant endpoint, and one stored before it did is not called.
        raise EndpointRefusedError(
            f"{target.model} at a tenant's own api_base: only OpenAI-compatible models "
            "(openai/<name>) may use one; set the model again"
        )
    response = litellm().completion(
        model=target.model,
        messages=messages,
        api_base=target.api_base,
        api_key=target.api_key,
        timeout=timeout_seconds,
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

    def __init__(self, route: LlmRoute, messages: Messages = build_messages) -> None:
        """`messages`: the prompt builder (an agent version's: flows.synthesis.instructions)."""
        if not route.targets:
            raise ValueError("an LLM route needs at least one model")
        self._route = route
        self._messages = messages

    def synthesize(self, event: Event, context: Context) -> Synthesis:
        messages = self._messages(event, context)
        attempts: list[Attempt] = []
        transient = False
        for target in self._route.targets:
            model = target.model
            span = started_span(
                "llm completion",
                {"gen_ai.request.model": model, "server.address": target.api_base or ""},
            )
            try:
                answer = _complete(target, self._route.timeout_seconds, messages)
                if not answer.text:
                    raise PermanentError("the model returned an empty completion")
            except Exception as exc:
                # Providers quote (part of) a refused key in their messages, and the reason
                # is stored in enhancement_history as well as logged.
                reason = f"{type(exc).__name__}: {redact_secrets(str(exc))[:_REASON_CHARS]}"
                log.warning("tenant %s: model %s failed: %s", event.tenant_id, model, reason)
                attempts.append(Attempt(model, target.api_base, reason))
                transient = transient or is_transient(exc)
                span.set_status(StatusCode.ERROR, reason)
                span.end()
                continue
            span.end()
            attempts.append(Attempt(model, target.api_base))
            return Synthesis(
                text=answer.text,
                synthesizer=self.name,
                model=model,
                prompt=render(messages),
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                cost_usd=answer.cost_usd,
                attempts=tuple(attempts),
            )
        summary = "; ".join(f"{a.model}: {a.error}" for a in attempts)
        error = EveryModelFailedTransient if transient else EveryModelFailedPermanent
        raise error(f"every model failed: {summary}", tuple(attempts))
