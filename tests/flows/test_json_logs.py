"""The flow's own log lines, in JSON, name the tenant and the event they are about: from
the event's thread, from its context sources and from its model attempts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from aiops.crypto import SecretBox
from aiops.settings import Settings
from tests.fakes.openai_server import OpenAiServer
from tests.flows.conftest import add_tenant, run_flow
from tests.flows.events import entry, event
from tests.flows.monitoring import closed_port_url
from tests.json_logs import json_log_lines
from warehouse.db import Database

KEY = "sk-json-logs-key"


@pytest.fixture()
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    with json_log_lines(monkeypatch, "flow") as written:
        yield written


def test_every_line_about_an_event_carries_its_tenant_and_event_ids(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str,
    json_logs: io.StringIO,
) -> None:  # fmt: skip
    with OpenAiServer(api_key=KEY) as llm:
        llm.fail_models = {"broken-model"}
        add_tenant(
            db, box, tenant_id, llm_model="openai/broken-model", llm_api_base=llm.base_url,
            llm_api_key=KEY, monitoring_url=closed_port_url(),
        )  # fmt: skip
        ticket = event(tenant_id, "77", "Printer on PRN-07 jams")
        run_flow(flow_settings.model_copy(update={"flow_attempts": 1}), [entry(ticket)])

    records = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    about = [r for r in records if tenant_id in r["message"]]
    messages = " | ".join(r["message"] for r in about)
    assert "source monitoring failed" in messages
    assert "model openai/broken-model failed" in messages
    assert f"event {ticket.event_id}: failed (transient" in messages
    for record in about:
        assert record["process"] == "flow"
        assert (record.get("tenant_id"), record.get("event_id")) == (tenant_id, ticket.event_id), (
            record
        )
    assert KEY not in json_logs.getvalue()
