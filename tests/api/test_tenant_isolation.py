"""Hostile callers: a key of tenant A against tenant B through every route of the app.

The route list comes from the app's OpenAPI schema, so a route added without a case here
fails `test_every_route_has_a_hostile_case` until someone says how to attack it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from httpx2 import Response

from aiops.settings import Settings
from tests.api.test_system_routes import dead_letter
from tests.api.two_tenants import DAY, Party, make_party, snapshot
from warehouse import api_keys
from warehouse.db import Database

Route = tuple[str, str]
# How to call a tenant route at the target's own objects: path parameters besides
# tenant_id, a JSON body, a query string.
Request = dict[str, Any]

TENANT_ROUTES: dict[Route, Callable[[Party], Request]] = {
    ("GET", "/tenants/{tenant_id}"): lambda p: {},
    ("PATCH", "/tenants/{tenant_id}"): lambda p: {
        "json": {"display_name": "renamed", "mask_personal_data": True}
    },
    ("GET", "/tenants/{tenant_id}/enhancements"): lambda p: {"params": {"ticket_id": p.ticket_id}},
    ("GET", "/tenants/{tenant_id}/enhancements/{event_id}"): lambda p: {"event_id": p.event_id},
    ("POST", "/tenants/{tenant_id}/tickets"): lambda p: {
        "json": {"tickets": [{"id": p.ticket_id, "subject": "overwritten"}, {"id": "planted"}]}
    },
    ("POST", "/tenants/{tenant_id}/analytics/sql"): lambda p: {
        "json": {"sql": "SELECT * FROM ticket_history"}
    },
    ("GET", "/tenants/{tenant_id}/analytics/rollups"): lambda p: {
        "params": {"start": DAY.isoformat(), "end": DAY.isoformat()}
    },
    ("GET", "/tenants/{tenant_id}/api-keys"): lambda p: {},
    ("POST", "/tenants/{tenant_id}/api-keys"): lambda p: {
        "json": {"name": "planted", "scope": "admin"}
    },
    ("DELETE", "/tenants/{tenant_id}/api-keys/{key_id}"): lambda p: {"key_id": p.spare_key_id},
    ("GET", "/tenants/{tenant_id}/llm"): lambda p: {},
    # Clearing the key: nothing to test against a provider, and the change would show.
    ("PUT", "/tenants/{tenant_id}/llm"): lambda p: {
        "json": {"model": "gpt-4o-mini", "clear_api_key": True}
    },
    ("DELETE", "/tenants/{tenant_id}/llm"): lambda p: {},
    ("GET", "/tenants/{tenant_id}/llm/budget"): lambda p: {},
    ("PUT", "/tenants/{tenant_id}/llm/budget"): lambda p: {"json": {"monthly_usd": 1}},
    ("GET", "/tenants/{tenant_id}/triage"): lambda p: {},
    ("PUT", "/tenants/{tenant_id}/triage"): lambda p: {"json": {"write_fields": True}},
    ("GET", "/tenants/{tenant_id}/webhook"): lambda p: {},
    ("PATCH", "/tenants/{tenant_id}/webhook"): lambda p: {"json": {"webhook_rate_per_minute": 7}},
    # In this order, so the tenant's own admin key starts a rotation, then finishes it.
    ("POST", "/tenants/{tenant_id}/webhook-secrets"): lambda p: {
        "json": {"secret": "whsec_" + base64.b64encode(b"planted" * 5).decode()}
    },
    ("DELETE", "/tenants/{tenant_id}/webhook-secrets/previous"): lambda p: {},
    # Agents, in this order: by now DELETE …/llm has made the tenant's notes offline ones,
    # so sandbox and test runs reach no provider.
    ("GET", "/tenants/{tenant_id}/agents"): lambda p: {},
    ("GET", "/tenants/{tenant_id}/agents/default-spec"): lambda p: {},
    ("POST", "/tenants/{tenant_id}/agents"): lambda p: {
        "json": {"agent_id": "planted", "name": "planted"}
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}"): lambda p: {"agent_id": "helper"},
    ("PATCH", "/tenants/{tenant_id}/agents/{agent_id}"): lambda p: {
        "agent_id": "helper",
        "json": {"name": "renamed"},
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/versions"): lambda p: {"agent_id": "helper"},
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions"): lambda p: {
        "agent_id": "helper",
        "json": {"spec": {"instructions": "planted"}},
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}"): lambda p: {
        "agent_id": "helper",
        "version": 1,
    },
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/sandbox"): lambda p: {
        "agent_id": "helper",
        "version": 1,
        "json": {"ticket_id": p.ticket_id},
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/runs"): lambda p: {"agent_id": "helper"},
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/runs/{run_id}"): lambda p: {
        "agent_id": "helper",
        "run_id": p.run_id,
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/jobs/{job_id}"): lambda p: {
        "agent_id": "helper",
        "job_id": p.job_id,
    },
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-cases"): lambda p: {
        "agent_id": "helper",
        "version": 2,
    },
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-cases"): lambda p: {
        "agent_id": "helper",
        "version": 2,
        "json": {
            "name": "planted",
            "ticket_id": p.ticket_id,
            "expectations": [{"kind": "succeeds"}],
        },
    },
    ("DELETE", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-cases/{case_id}"): (
        lambda p: {"agent_id": "helper", "version": 1, "case_id": p.case_id}
    ),
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-runs"): lambda p: {
        "agent_id": "helper",
        "version": 2,
    },
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/activate"): lambda p: {
        "agent_id": "helper",
        "version": 2,
    },
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/rollback"): lambda p: {"agent_id": "helper"},
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/shadow"): lambda p: {
        "agent_id": "helper",
        "version": 2,
    },
    ("DELETE", "/tenants/{tenant_id}/agents/{agent_id}/versions/{version}/shadow"): lambda p: {
        "agent_id": "helper",
        "version": 2,
    },
    ("POST", "/tenants/{tenant_id}/agents/{agent_id}/deactivate"): lambda p: {"agent_id": "helper"},
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/deployments"): lambda p: {"agent_id": "helper"},
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/metrics"): lambda p: {"agent_id": "helper"},
    ("GET", "/tenants/{tenant_id}/agents/{agent_id}/shadow-comparison"): lambda p: {
        "agent_id": "helper"
    },
    ("DELETE", "/tenants/{tenant_id}/agents/{agent_id}"): lambda p: {"agent_id": "planted"},
    ("GET", "/tenants/{tenant_id}/enhancements/{event_id}/feedback"): lambda p: {
        "event_id": p.event_id
    },
    ("POST", "/tenants/{tenant_id}/enhancements/{event_id}/feedback"): lambda p: {
        "event_id": p.event_id,
        "json": {"helpful": True, "comment": "planted"},
    },
    ("GET", "/tenants/{tenant_id}/enhancements/{event_id}/feedback-link"): lambda p: {
        "event_id": p.event_id
    },
}
# Not about one tenant: registering is for the admin token only; a key lists its own tenant.
# DELETE /tenants/{id} refuses tenant keys: tests/api/test_tenant_removal.py. The ITSM
# plugins and their settings are the same for every caller (no tenant data).
# The operator routes of the web console refuse tenant keys, even on their own tenant's
# dead letters: test_tenant_keys_reach_no_operator_route.
PLATFORM_ROUTES: set[Route] = {
    ("POST", "/tenants"),
    ("GET", "/tenants"),
    ("DELETE", "/tenants/{tenant_id}"),
    ("GET", "/itsm-plugins"),
    ("GET", "/system/health"),
    ("GET", "/dead-letters"),
    ("POST", "/dead-letters/{entry_id}/replay"),
}
PUBLIC_ROUTES: set[Route] = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    # A note's rating link: its signed token names one note (tests/api/test_agents.py).
    ("GET", "/feedback/{token}"),
    ("POST", "/feedback/{token}"),
}
# POSTs that change nothing, and GETs that still need admin scope.
READ_ONLY_POSTS: set[Route] = {("POST", "/tenants/{tenant_id}/analytics/sql")}
ADMIN_ONLY_GETS: set[Route] = {("GET", "/tenants/{tenant_id}/api-keys")}
ADMIN_ONLY = {
    route
    for route in TENANT_ROUTES
    if (route[0] != "GET" and route not in READ_ONLY_POSTS) or route in ADMIN_ONLY_GETS
}
SUCCESS = {
    "POST /tenants/{tenant_id}/api-keys": 201,
    "POST /tenants/{tenant_id}/webhook-secrets": 201,
    # The budget guards the platform's spending: only the admin token sets it, even for a
    # tenant's own admin key.
    "PUT /tenants/{tenant_id}/llm/budget": 403,
    "POST /tenants/{tenant_id}/agents": 201,
    "POST /tenants/{tenant_id}/agents/{agent_id}/versions": 201,
    "POST /tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-cases": 201,
    "DELETE /tenants/{tenant_id}/agents/{agent_id}/versions/{version}/test-cases/{case_id}": 204,
    "DELETE /tenants/{tenant_id}/agents/{agent_id}": 204,
    "POST /tenants/{tenant_id}/enhancements/{event_id}/feedback": 201,
}
NOBODY = "no-such-tenant"


def _call(
    client: TestClient, route: Route, path_tenant: str, target: Party, headers: dict[str, str]
) -> Response:
    method, template = route
    request = TENANT_ROUTES[route](target)
    path_params = {k: v for k, v in request.items() if k not in ("json", "params")}
    url = template.format(tenant_id=path_tenant, **path_params)
    return client.request(
        method, url, json=request.get("json"), params=request.get("params"), headers=headers
    )


@pytest.fixture()
def parties(
    client: TestClient, auth: dict[str, str], db: Database, settings: Settings, tenant_id: str
) -> tuple[Party, Party]:
    return (
        make_party(client, auth, db, settings, tenant_id + "-a"),
        make_party(client, auth, db, settings, tenant_id + "-b"),
    )


def _routes(client: TestClient) -> set[Route]:
    paths = client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_has_a_hostile_case(client: TestClient) -> None:
    assert _routes(client) == set(TENANT_ROUTES) | PLATFORM_ROUTES | PUBLIC_ROUTES


@pytest.mark.parametrize("scope", ["read", "admin"])
def test_a_key_of_one_tenant_finds_nothing_of_another(
    client: TestClient,
    parties: tuple[Party, Party],
    db: Database,
    redis_client: redis.Redis,
    settings: Settings,
    scope: api_keys.Scope,
) -> None:
    a, b = parties
    before = snapshot(db, redis_client, settings, b.tenant_id)
    problems = []
    for route in sorted(TENANT_ROUTES):
        theirs = _call(client, route, b.tenant_id, b, a.auth(scope))
        nobody = _call(client, route, NOBODY, b, a.auth(scope))
        if theirs.status_code != 404 or theirs.json() != nobody.json():
            problems.append(f"{route}: {theirs.status_code} {theirs.text} vs {nobody.text}")
        problems += [f"{route}: {m!r} in {theirs.text}" for m in b.markers if m in theirs.text]
    assert problems == []
    assert snapshot(db, redis_client, settings, b.tenant_id) == before


def test_a_keys_own_tenant_answers_by_scope(
    client: TestClient,
    parties: tuple[Party, Party],
    db: Database,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    """The control for the test above: the same requests do reach the key's own tenant."""
    a, b = parties
    before = snapshot(db, redis_client, settings, a.tenant_id)
    read = {r: _call(client, r, a.tenant_id, a, a.auth("read")) for r in sorted(TENANT_ROUTES)}
    assert {r for r, response in read.items() if response.status_code == 403} == ADMIN_ONLY
    assert snapshot(db, redis_client, settings, a.tenant_id) == before
    for route, response in read.items():
        if route not in ADMIN_ONLY:
            assert response.status_code == 200, (route, response.text)
            assert not [m for m in b.markers if m in response.text], route

    for route in TENANT_ROUTES:
        response = _call(client, route, a.tenant_id, a, a.auth("admin"))
        assert response.status_code == SUCCESS.get(" ".join(route), 200), (route, response.text)
    after = snapshot(db, redis_client, settings, a.tenant_id)
    tickets = {row["ticket_id"]: row["subject"] for row in after[0]["ticket_history"]}
    assert tickets == {a.ticket_id: "overwritten", "planted": ""}
    assert [k["name"] for k in after[0]["api_keys"] if k["revoked_at"]] == [
        f"spare key of {a.tenant_id}"
    ]
    assert "planted" in [k["name"] for k in after[0]["api_keys"]]


def test_sql_and_listings_with_a_key_show_only_its_tenant(
    client: TestClient, parties: tuple[Party, Party]
) -> None:
    a, b = parties
    named = client.post(
        f"/tenants/{a.tenant_id}/analytics/sql",
        json={"sql": f"SELECT * FROM enhancement_history WHERE tenant_id = '{b.tenant_id}'"},
        headers=a.auth("read"),
    )
    listed = client.get("/tenants", headers=a.auth("read"))

    assert (named.status_code, named.json()["rows"]) == (200, [])
    assert [t["tenant_id"] for t in listed.json()] == [a.tenant_id]
    for response in (named, listed):
        assert not [m for m in b.markers if m in response.text]


@pytest.mark.parametrize("scope", ["read", "admin"])
def test_tenant_keys_cannot_register_tenants(
    client: TestClient, parties: tuple[Party, Party], db: Database, scope: api_keys.Scope
) -> None:
    a, _ = parties
    new = a.tenant_id + "-new"
    body = {"tenant_id": new, "display_name": "x", "webhook_secret": "x" * 32}

    response = client.post("/tenants", json=body, headers=a.auth(scope))

    assert response.status_code == 403
    assert "platform admin token" in response.json()["detail"]
    with db.platform() as conn:
        assert conn.execute("SELECT 1 FROM tenants WHERE tenant_id = %s", (new,)).fetchone() is None


def _tokens(a: Party, b: Party) -> dict[str, str]:
    _, b_key, b_secret = b.admin_token.removeprefix("aiok_").split(".")
    _, a_key, a_secret = a.admin_token.removeprefix("aiok_").split(".")
    return {
        "B's key and secret under A's prefix": f"aiok_{a.tenant_id}.{b_key}.{b_secret}",
        "A's key with B's secret": f"aiok_{a.tenant_id}.{a_key}.{b_secret}",
        "A's key with a wrong secret": f"aiok_{a.tenant_id}.{a_key}.{a_secret[::-1]}",
        "A's key, secret cut short": f"aiok_{a.tenant_id}.{a_key}.{a_secret[:-1]}",
        "no secret": f"aiok_{a.tenant_id}.{a_key}",
        "an extra part": f"{a.admin_token}.x",
        "no prefix": a.admin_token.removeprefix("aiok_"),
        "not a token": "aiok_",
        "the admin token with a key appended": f"test-admin-token{a.admin_token}",
    }


def test_revoked_and_forged_tokens_are_unauthorized_everywhere(
    client: TestClient,
    parties: tuple[Party, Party],
    db: Database,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    a, b = parties
    before = [snapshot(db, redis_client, settings, p.tenant_id) for p in parties]
    revoked = client.delete(
        f"/tenants/{a.tenant_id}/api-keys/{a.read_token.split('.')[1]}", headers=a.auth("admin")
    )
    assert revoked.status_code == 200
    before[0] = snapshot(db, redis_client, settings, a.tenant_id)
    tokens = {"revoked": a.read_token, **_tokens(a, b)}
    routes = sorted(TENANT_ROUTES)
    problems = []
    for what, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for route in routes:
            for target in (a, b):
                response = _call(client, route, target.tenant_id, target, headers)
                if response.status_code != 401 or response.headers.get("WWW-Authenticate") != (
                    "Bearer"
                ):
                    problems.append(f"{what} on {route}: {response.status_code}")
        for method, path in PLATFORM_ROUTES:
            if client.request(method, path, json={}, headers=headers).status_code != 401:
                problems.append(f"{what} on {method} {path}")
    assert problems == []
    assert [snapshot(db, redis_client, settings, p.tenant_id) for p in parties] == before


@pytest.mark.parametrize("scope", ["read", "admin"])
def test_tenant_keys_reach_no_operator_route(
    client: TestClient,
    parties: tuple[Party, Party],
    redis_client: redis.Redis,
    settings: Settings,
    scope: api_keys.Scope,
) -> None:
    a, b = parties
    own = dead_letter(redis_client, settings, a.tenant_id, a.event_id)
    theirs = dead_letter(redis_client, settings, b.tenant_id, b.event_id)
    headers = a.auth(scope)

    answers = [
        client.get("/system/health", headers=headers),
        client.get("/dead-letters", headers=headers),
        client.post(f"/dead-letters/{own}/replay", headers=headers),
        client.post(f"/dead-letters/{theirs}/replay", headers=headers),
    ]

    assert [r.status_code for r in answers] == [403] * 4
    for response in answers:
        assert "platform admin token" in response.json()["detail"]
        assert not [m for m in (*a.markers, *b.markers) if m in response.text]
    assert redis_client.xlen(settings.dead_letter_stream) == 2
