"""litellm's real OpenAI provider reaches the stand-in server."""

from __future__ import annotations

from collections.abc import Iterator

# tests/conftest.py sets LITELLM_LOCAL_MODEL_COST_MAP before this import: there is no network.
import litellm
import pytest

from tests.fakes.openai_server import OpenAiServer

MESSAGES = [
    {"role": "system", "content": "You help MSP technicians."},
    {"role": "user", "content": "Ticket: VPN drops every hour\nRequester: Ann"},
]


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key="sk-test") as server:
        yield server


def test_litellm_completion_reaches_the_server(llm: OpenAiServer) -> None:
    response = litellm.completion(
        model="openai/gpt-4o-mini",
        api_base=llm.base_url,
        api_key="sk-test",
        messages=MESSAGES,
    )
    content = response.choices[0].message.content
    assert content.startswith("Suggested next steps for: Ticket: VPN drops every hour\n")
    assert response.usage.prompt_tokens == 11
    assert response.usage.total_tokens == response.usage.prompt_tokens + len(content.split())
    [received] = llm.requests
    assert received["model"] == "gpt-4o-mini"
    assert received["messages"] == MESSAGES


def test_a_wrong_key_is_an_authentication_error(llm: OpenAiServer) -> None:
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(
            model="openai/gpt-4o-mini",
            api_base=llm.base_url,
            api_key="sk-wrong",
            messages=MESSAGES,
            max_retries=0,
        )


def test_a_failing_model_answers_500(llm: OpenAiServer) -> None:
    llm.fail_models.add("gpt-4o")
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(
            model="openai/gpt-4o",
            api_base=llm.base_url,
            api_key="sk-test",
            messages=MESSAGES,
            max_retries=0,
        )
    [received] = llm.requests
    assert received["model"] == "gpt-4o"
