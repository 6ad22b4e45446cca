"""Ingest's log lines carry the tenant and event of the webhook they are about."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.ingest import sdp
from tests.json_logs import json_log_lines


@pytest.fixture()
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    # Accepted webhooks are logged at DEBUG (at line rate INFO would cost more CPU than the
    # webhook itself); the JSON form must carry the ids at every level.
    with json_log_lines(monkeypatch, "ingest", logging.DEBUG) as written:
        yield written


def test_an_accepted_webhook_is_logged_with_its_tenant_and_event(
    client: TestClient, tenant: str, json_logs: io.StringIO
) -> None:
    raw = sdp.body("8101")
    response = client.post(
        "/webhook/servicedesk",
        params={"tenant": tenant},
        content=raw,
        headers=sdp.headers(raw, delivery_id="d-json-8101"),
    )
    assert response.status_code == 202, response.text

    records = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    (accepted,) = [r for r in records if "status=202" in r["message"]]
    assert accepted["tenant_id"] == tenant
    assert accepted["event_id"] == "d-json-8101"
    assert accepted["process"] == "ingest" and accepted["level"] == "DEBUG"
