"""Chat completions from an OpenAI-compatible endpoint over one shared HTTP client.

litellm's `completion()` cost about 20 ms of CPU per call here (model-info and price
lookups, its logging hooks, the OpenAI SDK's request and response models): more than all
the rest of an event together. For a model that litellm would send to an
OpenAI-compatible endpoint anyway ("openai/<name>" with an API base, as a self-hosted
model or an LLM proxy is reached), we send that same documented request ourselves;
every other provider still goes through litellm (flows.synthesis.llm).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from aiops.endpoints import REFUSED
from aiops.llm import OPENAI_COMPATIBLE, litellm
from aiops.shared_http import shared_client

PREFIX = OPENAI_COMPATIBLE
_local = threading.local()


# The OpenAI SDK's (and litellm's) names for these answers, which operators know.
_NAMES = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
          404: "NotFoundError", 408: "Timeout", 429: "RateLimitError"}  # fmt: skip


class CompletionError(Exception):
    """The endpoint refused or failed; `status_code` as aiops.llm.is_transient reads it."""

    def __init__(self, message: str, status_code: int) -> None:
        name = _NAMES.get(status_code, "InternalServerError" if status_code >= 500 else "APIError")
        super().__init__(f"{name}: {message}")
        self.status_code = status_code


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float


def handles(model: str, api_base: str | None) -> bool:
    return api_base is not None and model.startswith(PREFIX)


def _http(public_only: bool) -> httpx.Client:
    """This thread's client (and kind's), made on first use, its connection kept."""
    name = "public_client" if public_only else "client"
    client: httpx.Client | None = getattr(_local, name, None)
    if client is None:
        client = shared_client(public_only)
        setattr(_local, name, client)
    return client


@cache
def _prices(name: str) -> tuple[float, float]:
    """USD per prompt and completion token from litellm's local price list; 0 if unlisted."""
    info: dict[str, Any] = litellm().model_cost.get(name) or {}
    return float(info.get("input_cost_per_token") or 0.0), float(
        info.get("output_cost_per_token") or 0.0
    )


def complete(
    model: str,
    messages: list[dict[str, str]],
    *,
    api_base: str,
    api_key: str | None,
    timeout_seconds: float,
    max_tokens: int,
    public_only: bool = False,
) -> Completion:
    name = model.removeprefix(PREFIX)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = _http(public_only).post(
            api_base.rstrip("/") + "/chat/completions",
            json={"model": name, "messages": messages, "max_tokens": max_tokens},
            headers=headers,
            timeout=timeout_seconds,
        )
    except httpx.TimeoutException as exc:
        raise CompletionError(f"timed out ({type(exc).__name__})", 408) from exc
    except httpx.ConnectError as exc:
        if str(exc).startswith(REFUSED):
            # Not a public address: trying again reaches the same place.
            raise CompletionError(str(exc), 403) from exc
        raise CompletionError(f"connection failed ({type(exc).__name__})", 503) from exc
    except httpx.TransportError as exc:
        # Unreachable: as worth another try as a 503.
        raise CompletionError(f"connection failed ({type(exc).__name__})", 503) from exc
    if response.status_code != 200:
        raise CompletionError(
            f"HTTP {response.status_code}: {response.text[:300]}", response.status_code
        )
    try:
        body = response.json()
        text = body["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CompletionError("the endpoint answered without a completion", 502) from exc
    usage = body.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    per_prompt, per_completion = _prices(name)
    cost = (prompt or 0) * per_prompt + (completion or 0) * per_completion
    return Completion(text.strip(), prompt, completion, cost)
