"""POST /webhook/jira through the real app into the real Redis."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.events import Event, shard_for
from aiops.settings import Settings
from aiops.tenant_directory import publish
from tests.ingest import jira, sdp
from tests.ingest.streams import enqueued_count, stored_events
from tests.itsm.jira_fixtures import load

URL = "/webhook/jira"


@pytest.fixture()
def jira_tenant(
    redis_client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str
) -> str:
    publish(redis_client, settings.stream_prefix, box, tenant_id, "jira", [jira.SECRET])
    return tenant_id


def _events(redis_client: redis.Redis, settings: Settings, tenant_id: str) -> list[Event]:
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    return stored_events(redis_client, stream)


def _raw(name: str) -> bytes:
    return json.dumps(load(name)).encode()


def test_a_signed_issue_created_is_stored_under_the_atlassian_delivery_id(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    raw = _raw("dc_issue_created.json")
    headers = jira.headers(raw, delivery_id="b6f0c2a4-8e41-4f5e-9a55-1c7d2f3e4a01")
    response = client.post(URL, params={"tenant": jira_tenant}, content=raw, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "event_id": "b6f0c2a4-8e41-4f5e-9a55-1c7d2f3e4a01",
        "duplicate": False,
    }
    [event] = _events(redis_client, settings, jira_tenant)
    assert (event.source, event.kind, event.ticket.id) == ("jira", "created", "HELP-42")
    again = client.post(URL, params={"tenant": jira_tenant}, content=raw, headers=headers)
    assert again.json()["duplicate"] is True
    assert len(_events(redis_client, settings, jira_tenant)) == 1


def test_a_resolving_update_goes_to_the_stream_as_resolved_with_the_fix_text(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    raw = _raw("cloud_issue_resolved.json")
    response = client.post(
        URL,
        params={"tenant": jira_tenant},
        content=raw,
        headers=jira.headers(raw, delivery_id="r1"),
    )
    assert response.status_code == 202
    [event] = _events(redis_client, settings, jira_tenant)
    assert event.kind == "resolved"
    assert event.ticket.resolution is not None
    assert event.ticket.resolution.startswith("Root cause")


@pytest.mark.parametrize(
    "name",
    [
        "cloud_comment_created.json",
        "cloud_own_comment_created.json",
        "dc_issue_commented_legacy.json",
        "cloud_issue_assigned.json",
    ],
)
def test_comments_and_non_resolving_updates_are_202_and_ignored(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str, name: str
) -> None:
    raw = _raw(name)
    response = client.post(
        URL,
        params={"tenant": jira_tenant},
        content=raw,
        headers=jira.headers(raw, delivery_id="c1"),
    )
    assert response.status_code == 202
    assert response.json()["ignored"] is True
    assert enqueued_count(redis_client, settings.stream_prefix) == 0
    assert not redis_client.keys(f"{settings.stream_prefix}:dedupe:*")


def test_an_ignorable_event_with_a_bad_signature_is_still_401(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    raw = _raw("cloud_comment_created.json")
    response = client.post(
        URL, params={"tenant": jira_tenant}, content=raw, headers=jira.headers(raw, "other-secret")
    )
    assert response.status_code == 401


def test_signature_failures_are_401_and_store_nothing(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    raw = _raw("dc_issue_created.json")
    tampered = raw.replace(b"VPN drops", b"VPN works")
    cases = [
        (tampered, jira.headers(raw)),
        (raw, jira.headers(raw, secret="whsec_another-tenants-secret")),
        (raw, jira.headers(raw, secret=None)),
        (raw, jira.token_headers("not-the-secret")),
    ]
    for body, headers in cases:
        response = client.post(URL, params={"tenant": jira_tenant}, content=body, headers=headers)
        assert response.status_code == 401, headers
    assert enqueued_count(redis_client, settings.stream_prefix) == 0


def test_an_automation_rule_authenticates_with_the_secret_header(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    issue = json.dumps(load("dc_issue_created.json")["issue"]).encode()
    response = client.post(
        URL, params={"tenant": jira_tenant}, content=issue, headers=jira.token_headers()
    )
    assert response.status_code == 202, response.text
    [event] = _events(redis_client, settings, jira_tenant)
    assert (event.kind, event.ticket.id) == ("created", "HELP-42")


def test_the_resolved_route_stores_resolved_issues_and_ignores_open_ones(
    client: TestClient, redis_client: redis.Redis, settings: Settings, jira_tenant: str
) -> None:
    resolved = json.dumps(load("dc_issue_resolved.json")["issue"]).encode()
    still_open = json.dumps(load("dc_issue_created.json")["issue"]).encode()
    route = URL + "/resolved-ticket"
    first = client.post(
        route, params={"tenant": jira_tenant}, content=resolved, headers=jira.token_headers()
    )
    second = client.post(
        route, params={"tenant": jira_tenant}, content=still_open, headers=jira.token_headers()
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["ignored"] is True
    [event] = _events(redis_client, settings, jira_tenant)
    assert (event.kind, event.ticket.id) == ("resolved", "HELP-43")


def test_a_jira_tenant_is_unknown_on_the_servicedesk_route_and_vice_versa(
    client: TestClient, settings: Settings, jira_tenant: str, tenant: str
) -> None:
    raw = _raw("dc_issue_created.json")
    assert (
        client.post(
            "/webhook/servicedesk",
            params={"tenant": jira_tenant},
            content=raw,
            headers=jira.headers(raw),
        ).status_code
        == 401
    )
    sdp_raw = sdp.body()
    assert (
        client.post(
            URL,
            params={"tenant": tenant},
            content=sdp_raw,
            headers=jira.headers(sdp_raw, sdp.SECRET),
        ).status_code
        == 401
    )


def test_the_same_answers_as_the_servicedesk_route(
    client: TestClient, settings: Settings, jira_tenant: str
) -> None:
    raw = _raw("dc_issue_created.json")
    assert client.post(URL, content=raw, headers=jira.headers(raw)).status_code == 400
    plain = {**jira.headers(raw), "Content-Type": "text/plain"}
    assert (
        client.post(URL, params={"tenant": jira_tenant}, content=raw, headers=plain).status_code
        == 415
    )
    big = b'{"x": "' + b"a" * settings.max_webhook_bytes + b'"}'
    assert (
        client.post(
            URL, params={"tenant": jira_tenant}, content=big, headers=jira.headers(big)
        ).status_code
        == 413
    )
    broken = b'{"webhookEvent": "jira:issue_created", "issue": {"fields": {}}}'
    answer = client.post(
        URL, params={"tenant": jira_tenant}, content=broken, headers=jira.headers(broken)
    )
    assert answer.status_code == 422
    assert ["body", "issue", "key"] in [p["loc"] for p in answer.json()["detail"]]
    not_json = b"{nope"
    assert (
        client.post(
            URL, params={"tenant": jira_tenant}, content=not_json, headers=jira.headers(not_json)
        ).status_code
        == 400
    )
