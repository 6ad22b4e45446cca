"""Every route but the health checks and /metrics needs a credential: the admin token or a
tenant key."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

# Open like ingest's: Prometheus scrapes them; /metrics holds route templates and status
# codes, never a tenant id or any data.
HEALTH = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    # A note's rating link: its signed token is the credential (tests/api/test_agents.py).
    ("GET", "/feedback/{token}"),
    ("POST", "/feedback/{token}"),
}


def _protected(client: TestClient) -> list[tuple[str, str]]:
    """Every route of the app's schema but health and metrics, with made-up path parameters."""
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert len(routes - HEALTH) >= 10, "the schema lists the protected routes"
    return sorted(
        (method, path.replace("{tenant_id}", "acme").replace("{event_id}", "ev-1")
         .replace("{key_id}", "abcd1234"))
        for method, path in routes - HEALTH
    )  # fmt: skip


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong-token",
        "Basic dGVzdDp0ZXN0",
        "Bearer aiok_acme.abcd1234.not-a-real-secret-not-a-real-secret",
        "Bearer ",
        "test-admin-token",
    ],
)
def test_protected_routes_refuse_missing_or_wrong_tokens(
    client: TestClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    routes = _protected(client)
    refused = {
        (method, path): client.request(method, path, headers=headers, json={})
        for method, path in routes
    }

    for route, response in refused.items():
        assert response.status_code == 401, route
        assert response.headers["WWW-Authenticate"] == "Bearer", route
        assert "Authorization: Bearer" in response.json()["detail"], route


def test_the_admin_token_passes_authentication_everywhere(
    client: TestClient, auth: dict[str, str]
) -> None:
    for method, path in _protected(client):
        response = client.request(method, path, headers=auth, json={})
        assert response.status_code not in (401, 403), (method, path, response.text)


def test_health_needs_no_token_and_ready_checks_both_servers(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok"},
        "degraded": {},
    }


def test_metrics_count_requests_by_route_template_never_by_tenant(
    client: TestClient, auth: dict[str, str]
) -> None:
    client.get("/tenants/acme-metrics/llm", headers=auth)
    client.get("/tenants/acme-metrics/llm")
    text = client.get("/metrics").text
    assert (
        'aiops_api_requests_total{method="GET",route="/tenants/{tenant_id}/llm",status="404"} 1.0'
        in text
    )
    assert (
        'aiops_api_requests_total{method="GET",route="/tenants/{tenant_id}/llm",status="401"} 1.0'
        in text
    )
    assert 'aiops_api_request_seconds_count{route="/tenants/{tenant_id}/llm"} 2.0' in text
    assert "acme-metrics" not in text
