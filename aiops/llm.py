"""litellm, imported once and without network, and what its errors mean to us.

litellm is imported on first use, after LITELLM_LOCAL_MODEL_COST_MAP is set: its import
would otherwise fetch the model cost map over the network. The flow's synthesizer and
the API's key check both go through here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any, cast

import httpx

from aiops.endpoints import public_only_transport

log = logging.getLogger(__name__)

# litellm's prefix for an OpenAI-compatible endpoint: the only kind a tenant may point at
# an api_base of its own (its connections are checked as they connect).
OPENAI_COMPATIBLE = "openai/"
_PROBE_MESSAGES = [{"role": "user", "content": "Reply with one word: ok"}]
_REFUSED = (401, 403)


@dataclass(frozen=True)
class LlmTarget:
    """One model at one provider: its own endpoint (None: the provider's default) and key.

    Where a fallback is given as a plain model name instead, it shares the primary's
    endpoint and key."""

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # Chosen with a tenant key: connect to public addresses only (aiops.endpoints).
    public_only: bool = False


@cache
def litellm() -> ModuleType:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: Exception) -> bool:
    """Timeouts, unreachable providers, 408, 429 and 5xx: worth trying again."""
    errors = litellm().exceptions
    transient = (
        errors.Timeout,
        errors.APIConnectionError,
        errors.RateLimitError,
        errors.InternalServerError,
        errors.ServiceUnavailableError,
        errors.BadGatewayError,
    )
    status = status_code(exc)
    return isinstance(exc, transient) or status in (408, 429) or (status or 0) >= 500


def is_known_model(name: str) -> bool:
    """Whether litellm can tell which provider serves `name` (e.g. openai/gpt-4o-mini)."""
    try:
        model, _provider, *_ = litellm().get_llm_provider(name)
    except Exception:
        return False
    return bool(model)


class ProbeError(Exception):
    """The test completion did not succeed; the message never holds the key."""


class KeyRefused(ProbeError):
    """The provider answered 401 or 403: it does not accept this key."""


class ProviderUnavailable(ProbeError):
    """Timeout, unreachable, 429 or 5xx: the key may be fine; try again later."""


class ProviderRejected(ProbeError):
    """Another 4xx, for example a model the provider does not serve."""


def _public_only_client(model: str, api_base: str | None, api_key: str | None) -> Any:
    """For an OpenAI-compatible endpoint a tenant chose: an OpenAI SDK client whose every
    connection is checked to reach a public address (litellm uses the client it is given)."""
    if api_base is None or not model.startswith(OPENAI_COMPATIBLE):
        return None
    import openai

    http = httpx.Client(transport=public_only_transport(), trust_env=False)
    # The SDK is typed against its own httpx fork; it takes an httpx.Client all the same.
    return openai.OpenAI(
        api_key=api_key, base_url=api_base, http_client=cast(Any, http), max_retries=0
    )


def probe(
    model: str,
    api_base: str | None,
    api_key: str | None,
    timeout_seconds: float,
    *,
    public_only: bool = False,
) -> None:
    """One real one-token completion, to learn whether the provider takes this key.

    `public_only`: a tenant chose the endpoint, so the connection itself must reach a
    public address (checked as it connects, for OpenAI-compatible endpoints).
    The provider's own error text is neither kept nor logged: some providers quote part
    of the key in it.
    """
    client = _public_only_client(model, api_base, api_key) if public_only else None
    try:
        litellm().completion(
            model=model,
            messages=_PROBE_MESSAGES,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout_seconds,
            max_tokens=1,
            num_retries=0,
            max_retries=0,
            **({"client": client} if client is not None else {}),
        )
    except Exception as exc:
        status = status_code(exc)
        answered = f"HTTP {status}" if status else type(exc).__name__
        log.info("LLM key check for %s failed: %s (%s)", model, type(exc).__name__, answered)
        if status in _REFUSED:
            raise KeyRefused(f"the provider refused the key for {model} ({answered})") from None
        if is_transient(exc):
            raise ProviderUnavailable(
                f"the provider for {model} could not be reached or failed ({answered})"
            ) from None
        raise ProviderRejected(
            f"the provider rejected a one-token test completion with {model} ({answered})"
        ) from None
