"""Every route but the health checks needs the admin token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

PROTECTED = [
    ("GET", "/tenants"),
    ("POST", "/tenants"),
    ("GET", "/tenants/acme"),
    ("GET", "/tenants/acme/enhancements"),
    ("GET", "/tenants/acme/enhancements/ev-1"),
    ("POST", "/tenants/acme/tickets"),
    ("POST", "/tenants/acme/analytics/sql"),
    ("GET", "/tenants/acme/analytics/rollups"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dGVzdDp0ZXN0"])
def test_protected_routes_refuse_missing_or_wrong_tokens(
    client: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}

    response = client.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_route_is_either_health_or_protected(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    templated = {
        (m, p.replace("acme", "{tenant_id}").replace("ev-1", "{event_id}")) for m, p in PROTECTED
    }
    assert routes - templated == {("GET", "/health"), ("GET", "/health/ready")}


def test_health_needs_no_token_and_ready_checks_both_servers(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}
