"""Schemathesis against the app's own OpenAPI schema, as the admin and as a tenant key:
every answer is documented (status, content type, body schema, headers) and none is a 5xx.

Half the cases aim at a real tenant, so the routes are exercised past the tenant check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.core.result import Err, Ok

from aiops.settings import Settings
from api.app import create_app
from tests.api.two_tenants import make_party
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import OpenAiServer
from tests.schema_checks import CHECKS, fuzz_settings
from warehouse.db import Database

EXAMPLES_PER_ROUTE = 10
LLM_ROUTE = ("PUT", "/tenants/{tenant_id}/llm")
# Removes the tenant the other routes aim at: fuzzed last.
REMOVAL_ROUTE = ("DELETE", "/tenants/{tenant_id}")


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer() as server:
        yield server


ITSM_ROUTES = {("POST", "/tenants"), ("PATCH", "/tenants/{tenant_id}")}
# ITSM credentials are tried when saved: at a loopback port nothing listens on, never out.
NOWHERE = f"http://127.0.0.1:{free_port()}"


def _hermetic(case: Case, llm_base_url: str) -> Case:
    """Whatever key is sent or stored is tested against loopback only."""
    if (case.method.upper(), case.path) == LLM_ROUTE and isinstance(case.body, dict):
        case.body.update(model="openai/gpt-4o-mini", fallbacks=[], api_base=llm_base_url)
    route = (case.method.upper(), case.path)
    if route in ITSM_ROUTES and isinstance(case.body, dict) and case.body.get("itsm_base_url"):
        case.body["itsm_base_url"] = NOWHERE
    return case


@pytest.fixture()
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """A 500 is an answer to record here, not an exception in the test."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _operation(result: Ok[Any] | Err[Any]) -> Any:
    """The operation, or the schema error itself: a route the fuzzer cannot read fails."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


@pytest.mark.parametrize("who", ["admin token", "tenant admin key"])
def test_fuzzed_requests_get_documented_answers(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    settings: Settings,
    tenant_id: str,
    llm: OpenAiServer,
    who: str,
) -> None:
    party = make_party(client, auth, db, settings, tenant_id)
    headers = auth if who == "admin token" else party.auth("admin")
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    failures: list[str] = []
    succeeded: set[str] = set()

    operations = sorted(
        (_operation(result) for result in schema.get_all_operations()),
        key=lambda op: (op.method.upper(), op.path) == REMOVAL_ROUTE,
    )
    for operation in operations:
        strategy = operation.as_strategy()
        if "{tenant_id}" in operation.path:
            strategy = st.one_of(
                strategy, operation.as_strategy(path_parameters={"tenant_id": party.tenant_id})
            )

        @given(case=strategy)
        @fuzz_settings(EXAMPLES_PER_ROUTE)
        def run(case: Case) -> None:
            case = _hermetic(case, llm.base_url)
            kwargs: dict[str, Any] = case.as_transport_kwargs(headers=headers)
            kwargs = {key: value for key, value in kwargs.items() if value or key == "json"}
            response = client.request(**kwargs)
            if response.is_success:
                succeeded.add(f"{case.method} {case.operation.path}")
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except BaseException as exc:  # every route is fuzzed; all failures are listed below
                failures.append(f"{case.method} {case.path}: {exc}")

        run()

    assert failures == [], "\n\n".join(failures)
    # The cases got past authentication and the tenant check, not only to their refusals.
    assert len(succeeded) >= 10, sorted(succeeded)
