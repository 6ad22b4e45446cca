"""API-key routes: a key is made with its token shown once, listed without it, revoked."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from warehouse.db import Database


def _tenant(client: TestClient, auth: dict[str, str], tenant_id: str) -> str:
    body = {"tenant_id": tenant_id, "display_name": tenant_id, "webhook_secret": "x" * 32}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201
    return tenant_id


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_key_is_made_once_used_listed_and_revoked(
    client: TestClient, auth: dict[str, str], tenant_id: str, db: Database
) -> None:
    tid = _tenant(client, auth, tenant_id)
    url = f"/tenants/{tid}/api-keys"

    made = client.post(url, json={"name": "CI export", "scope": "admin"}, headers=auth)
    assert made.status_code == 201, made.text
    body = made.json()
    token = body.pop("token")
    key_id = body["key_id"]
    assert token.startswith(f"aiok_{tid}.{key_id}.")
    assert body["scope"] == "admin" and body["revoked_at"] is None

    # The tenant's own admin key manages keys too.
    second = client.post(url, json={"name": "dashboard", "scope": "read"}, headers=_bearer(token))
    listed = client.get(url, headers=_bearer(token))
    assert second.status_code == 201
    assert [k["name"] for k in listed.json()] == ["CI export", "dashboard"]
    assert listed.json()[0]["last_used_at"] is not None
    secret = token.split(".")[2]
    for response in (listed, client.get(f"/tenants/{tid}", headers=_bearer(token))):
        assert secret not in response.text
        assert "token" not in response.json()
    with db.tenant(tid) as conn:
        stored = conn.execute("SELECT secret_sha256 FROM api_keys WHERE key_id = %s", (key_id,))
        assert bytes(stored.fetchone()["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()  # type: ignore[index]

    revoked = client.delete(f"{url}/{key_id}", headers=_bearer(token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = client.get(url, headers=_bearer(token))
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"] == "Bearer"
    again = client.delete(f"{url}/{key_id}", headers=auth)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_bad_key_requests(client: TestClient, auth: dict[str, str], tenant_id: str) -> None:
    tid = _tenant(client, auth, tenant_id)
    url = f"/tenants/{tid}/api-keys"

    odd_scope = client.post(url, json={"name": "x", "scope": "owner"}, headers=auth)
    no_name = client.post(url, json={"name": "", "scope": "read"}, headers=auth)
    unknown = client.delete(f"{url}/abcdefgh12345678", headers=auth)
    malformed = client.delete(f"{url}/not-a-key", headers=auth)
    no_tenant = client.post(
        f"/tenants/{tid}-missing/api-keys", json={"name": "x", "scope": "read"}, headers=auth
    )

    assert (odd_scope.status_code, no_name.status_code) == (422, 422)
    assert unknown.status_code == 404
    assert "abcdefgh12345678" in unknown.json()["detail"]
    assert malformed.status_code == 422
    assert no_tenant.status_code == 404
