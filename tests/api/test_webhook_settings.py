"""Webhook signing through the API: a rotation with two secrets, the scheme and the rate;
each change stored encrypted, republished, and obeyed by a real ingest app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from api.app import create_app as create_api
from ingest.app import create_app as create_ingest
from tests.fakes.loopback import free_port
from tests.ingest import sdp, standard
from warehouse.db import Database
from warehouse.tenants import get_tenant, new_webhook_secret

FIRST = "first-caller-chosen-secret-0123456789"
SECOND = new_webhook_secret()
THIRD = new_webhook_secret()
WEBHOOK = "/webhook/servicedesk"


@pytest.fixture()
def ingest(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """Ingest without its tenant cache: what it accepts follows each change at once."""
    with TestClient(create_ingest(settings.model_copy(update={"tenant_cache_seconds": 0}))) as c:
        yield c


@pytest.fixture()
def tenant(client: TestClient, auth: dict[str, str], tenant_id: str) -> str:
    body = {"tenant_id": tenant_id, "display_name": "Acme", "webhook_secret": FIRST}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201
    return tenant_id


def _native(ingest: TestClient, tenant: str, secret: str, n: int) -> int:
    raw = sdp.body(str(n))
    headers = sdp.headers(raw, secret, delivery_id=f"d-{n}")
    return ingest.post(WEBHOOK, params={"tenant": tenant}, content=raw, headers=headers).status_code


def _standard(ingest: TestClient, tenant: str, secret: str, n: int) -> int:
    raw = sdp.body(str(n))
    headers = standard.headers(raw, secret, message_id=f"msg-{n}")
    return ingest.post(WEBHOOK, params={"tenant": tenant}, content=raw, headers=headers).status_code


def _assert_no_secret(text: str) -> None:
    for secret in (FIRST, SECOND, THIRD):
        assert secret not in text


def test_a_rotation_accepts_old_and_new_and_after_finishing_only_new(
    client: TestClient,
    auth: dict[str, str],
    ingest: TestClient,
    settings: Settings,
    db: Database,
    box: SecretBox,
    tenant: str,
) -> None:
    base = f"/tenants/{tenant}"
    assert (_native(ingest, tenant, FIRST, 1), _native(ingest, tenant, SECOND, 2)) == (202, 401)

    started = client.post(f"{base}/webhook-secrets", json={"secret": SECOND}, headers=auth)
    during = (_native(ingest, tenant, FIRST, 3), _native(ingest, tenant, SECOND, 4))
    third = client.post(f"{base}/webhook-secrets", json={"secret": THIRD}, headers=auth)
    finished = client.delete(f"{base}/webhook-secrets/previous", headers=auth)
    after = (_native(ingest, tenant, FIRST, 5), _native(ingest, tenant, SECOND, 6))
    again = client.delete(f"{base}/webhook-secrets/previous", headers=auth)

    assert started.status_code == 201, started.text
    assert started.json() == {
        "tenant_id": tenant,
        "webhook_scheme": "native",
        "webhook_rate_per_minute": None,
        "effective_rate_per_minute": settings.webhook_rate_per_minute,
        "signing_secrets": 2,
        "takes_effect_within_seconds": settings.tenant_cache_seconds,
    }
    assert during == (202, 202)
    assert third.status_code == 409
    assert "finish the rotation first" in third.json()["detail"]
    assert finished.status_code == 200
    assert finished.json()["signing_secrets"] == 1
    assert after == (401, 202)
    assert again.status_code == 409
    assert "no rotation in progress" in again.json()["detail"]
    for response in (started, third, finished, again):
        _assert_no_secret(response.text)
    stored = get_tenant(db, box, tenant)
    assert stored is not None and stored.webhook_secrets == (SECOND,)
    with db.tenant(tenant) as conn:
        row = conn.execute("SELECT webhook_secrets_enc FROM tenant_configs").fetchone()
    assert row is not None and SECOND.encode() not in bytes(row["webhook_secrets_enc"])


def test_switching_to_standard_webhooks_needs_a_whsec_secret_and_then_only_it_verifies(
    client: TestClient, auth: dict[str, str], ingest: TestClient, tenant: str
) -> None:
    base = f"/tenants/{tenant}"

    refused = client.patch(f"{base}/webhook", json={"webhook_scheme": "standard"}, headers=auth)
    client.post(f"{base}/webhook-secrets", json={"secret": SECOND}, headers=auth)
    client.delete(f"{base}/webhook-secrets/previous", headers=auth)
    switched = client.patch(f"{base}/webhook", json={"webhook_scheme": "standard"}, headers=auth)
    not_whsec = client.post(f"{base}/webhook-secrets", json={"secret": FIRST}, headers=auth)

    assert refused.status_code == 409
    assert "whsec_" in refused.json()["detail"]
    assert switched.status_code == 200, switched.text
    assert switched.json()["webhook_scheme"] == "standard"
    assert _standard(ingest, tenant, SECOND, 1) == 202
    assert _native(ingest, tenant, SECOND, 2) == 401  # the native header counts no more
    assert not_whsec.status_code == 422
    assert "whsec_" in not_whsec.json()["detail"]


def test_the_rate_is_set_kept_when_omitted_and_reset_with_null(
    client: TestClient, auth: dict[str, str], ingest: TestClient, settings: Settings, tenant: str
) -> None:
    url = f"/tenants/{tenant}/webhook"

    limited = client.patch(url, json={"webhook_rate_per_minute": 2}, headers=auth)
    answers = [_native(ingest, tenant, FIRST, n) for n in range(3)]
    kept = client.patch(url, json={"webhook_scheme": "native"}, headers=auth)
    reset = client.patch(url, json={"webhook_rate_per_minute": None}, headers=auth)
    invalid = client.patch(url, json={"webhook_rate_per_minute": 0}, headers=auth)
    read = client.get(url, headers=auth)

    assert limited.json()["effective_rate_per_minute"] == 2
    assert answers == [202, 202, 429]
    assert kept.json()["webhook_rate_per_minute"] == 2
    assert reset.json()["webhook_rate_per_minute"] is None
    assert reset.json()["effective_rate_per_minute"] == settings.webhook_rate_per_minute
    assert invalid.status_code == 422
    assert read.json() == reset.json()


def test_short_secrets_and_unknown_tenants_are_refused(
    client: TestClient, auth: dict[str, str], tenant: str
) -> None:
    short = client.post(
        f"/tenants/{tenant}/webhook-secrets", json={"secret": "too-short"}, headers=auth
    )
    unknown = client.post(
        "/tenants/t-nobody-here/webhook-secrets", json={"secret": SECOND}, headers=auth
    )

    assert short.status_code == 422
    assert "too-short" not in short.text
    assert unknown.status_code == 404


def test_an_unreachable_redis_is_a_503_and_nothing_changes(
    settings: Settings, auth: dict[str, str], db: Database, box: SecretBox, tenant: str
) -> None:
    unreachable = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})

    with TestClient(create_api(unreachable)) as cut_off:
        response = cut_off.post(
            f"/tenants/{tenant}/webhook-secrets", json={"secret": SECOND}, headers=auth
        )

    assert response.status_code == 503
    stored = get_tenant(db, box, tenant)
    assert stored is not None and stored.webhook_secrets == (FIRST,)
