"""One trace per event, webhook to note: ingest (TestClient) and the flow (run_main) in
one process, spans caught by OpenTelemetry's in-memory exporter; the trace crosses Redis
as the entry's traceparent field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiops.crypto import SecretBox
from aiops.events import shard_for
from aiops.settings import Settings
from aiops.tracing import EVENT_ID, TENANT_ID, TRACEPARENT, configure_tracing, otlp_endpoint
from flows.items import Entry
from ingest.app import create_app
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import run_flow, sdp_tenant
from tests.flows.events import entry, event
from tests.ingest import sdp as webhook
from warehouse.db import Database
from warehouse.tenants import publish_tenant

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's tracer provider, set once: OpenTelemetry allows no second one."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    return _EXPORTER


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key="sk-trace") as server:
        yield server


def _by_name(found: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    named: dict[str, list[ReadableSpan]] = {}
    for span in found:
        named.setdefault(span.name, []).append(span)
    return named


def test_one_trace_from_webhook_to_note(
    spans: InMemorySpanExporter,
    flow_settings: Settings,
    settings: Settings,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    sdp: SdpServer,
    llm: OpenAiServer,
    tenant_id: str,
) -> None:
    config = sdp_tenant(
        db,
        box,
        tenant_id,
        sdp,
        webhook_secrets=(webhook.SECRET,),
        llm_model="openai/gpt-4o-mini",
        llm_api_base=llm.base_url,
        llm_api_key="sk-trace",
    )
    publish_tenant(redis_client, settings.stream_prefix, box, config)
    sdp.add_request({"id": "1001"})
    spans.clear()

    raw = webhook.body("1001")
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            f"/webhook/servicedesk?tenant={tenant_id}",
            content=raw,
            headers=webhook.headers(raw, delivery_id=f"trace-{tenant_id}"),
        )
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["event_id"]
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    entries: Any = redis_client.xrange(stream)
    [(entry_id, fields)] = [(i, f) for i, f in entries if event_id.encode() in f[b"event"]]
    assert TRACEPARENT.encode() in fields  # the trace crosses Redis in the entry

    run_flow(flow_settings, [Entry(stream, entry_id.decode(), fields)])

    finished = list(spans.get_finished_spans())
    traces = {s.context.trace_id for s in finished if s.context is not None}
    assert len(traces) == 1, [s.name for s in finished]
    named = _by_name(finished)
    [ingest] = named["ingest webhook"]
    [enhance] = named["flow enhance"]
    # The webhook paths are served ahead of FastAPI, so ingest's span is the trace's root.
    roots = [s for s in finished if s.parent is None]
    assert [r.name for r in roots] == ["ingest webhook"]
    assert enhance.parent is not None and enhance.parent.span_id == ingest.context.span_id
    for span in (ingest, enhance):
        assert span.attributes is not None
        assert (span.attributes[TENANT_ID], span.attributes[EVENT_ID]) == (tenant_id, event_id)
    for stage in ("tenant", "begin", "gather", "synthesize", "write_back"):
        [span] = named[f"flow {stage}"]
        assert span.parent is not None and span.parent.span_id == enhance.context.span_id
    [synthesize] = named["flow synthesize"]
    [completion] = named["llm completion"]
    assert completion.parent is not None
    assert completion.parent.span_id == synthesize.context.span_id
    assert completion.attributes is not None
    assert completion.attributes["gen_ai.request.model"] == "openai/gpt-4o-mini"
    [write_back] = named["flow write_back"]
    [add_note] = named["itsm add note"]
    assert add_note.parent is not None and add_note.parent.span_id == write_back.context.span_id
    # A first attempt has no earlier note to look for.
    assert "itsm find note" not in named
    assert sdp.notes("1001")


def test_without_a_traceparent_the_flow_starts_a_trace_of_its_own(
    spans: InMemorySpanExporter,
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    sdp: SdpServer,
    tenant_id: str,
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    spans.clear()
    run_flow(flow_settings, [entry(event(tenant_id, "5", "Keyboard dead"))])
    [enhance] = _by_name(list(spans.get_finished_spans()))["flow enhance"]
    assert enhance.parent is None
    assert enhance.attributes is not None and enhance.attributes[TENANT_ID] == tenant_id


def test_spans_are_exported_only_when_an_endpoint_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert otlp_endpoint(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    assert configure_tracing(Settings(_env_file=None), "test") is False  # type: ignore[call-arg]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert otlp_endpoint(Settings(_env_file=None)) == "http://collector:4318"  # type: ignore[call-arg]
    ours = Settings(_env_file=None, otlp_endpoint="http://otel.internal:4318")  # type: ignore[call-arg]
    assert otlp_endpoint(ours) == "http://otel.internal:4318"
