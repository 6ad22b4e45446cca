"""Schemathesis against the ingest app's own OpenAPI schema: no 5xx, and every answer is
documented (status, content type, body schema, headers).

Cases are sent as generated, and also signed for a real native or Standard Webhooks tenant,
so the fuzzed bodies reach parsing, normalization and the enqueue script, not only the
signature check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Err

from aiops.settings import Settings
from ingest.app import create_app
from tests.ingest import sdp, standard
from tests.schema_checks import CHECKS, fuzz_settings

EXAMPLES_PER_ROUTE = 80
SIGNINGS = ["as generated", "native", "standard"]


@pytest.fixture()
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """A 500 is an answer to record here, not an exception in the test."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _request(case: Case, signing: str, tenants: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = case.as_transport_kwargs()
    kwargs = {key: value for key, value in kwargs.items() if value or key == "json"}
    if isinstance(kwargs.get("data"), str | bytes):
        kwargs["content"] = kwargs.pop("data")  # a body that is not JSON, sent as it is
    if "json" not in kwargs or signing == "as generated":
        return kwargs
    # Signed over the exact bytes sent, for the tenant of that scheme.
    raw = json.dumps(kwargs.pop("json")).encode()
    signed = sdp.headers(raw) if signing == "native" else standard.headers(raw)
    headers = {
        name: value for name, value in kwargs.get("headers", {}).items() if name != "X-Tenant-Id"
    }
    return {
        **kwargs,
        "content": raw,
        "params": {"tenant": tenants[signing]},
        "headers": {**headers, **signed},
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_webhooks_get_documented_answers_and_never_a_5xx(
    client: TestClient, tenant: str, standard_tenant: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    tenants = {"native": tenant, "standard": standard_tenant}
    failures: list[str] = []
    statuses: set[int] = set()

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # our own schema must be valid
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.query):
            continue  # nothing there to make invalid

        @given(case=operation.as_strategy(generation_mode=mode), signing=st.sampled_from(SIGNINGS))
        @fuzz_settings(EXAMPLES_PER_ROUTE)
        def run(case: Case, signing: str) -> None:
            response = client.request(**_request(case, signing, tenants))
            statuses.add(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseException as exc:  # every route is fuzzed; all failures are listed below
                failures.append(f"{case.method} {case.path} ({signing}): {exc}")

        run()

    assert failures == [], "\n\n".join(failures)
    # The fuzzing got past the signature: bodies were parsed and judged (and, when they fit
    # the schema, some accepted).
    assert {401, 422} <= statuses, statuses
    if mode is GenerationMode.POSITIVE:
        assert 202 in statuses, statuses
