"""OpenTelemetry tracing: one trace per event, from the webhook to the note.

Spans are exported over OTLP/HTTP only when an endpoint is configured
(AI_AGENTS_OTLP_ENDPOINT, or the standard OTEL_EXPORTER_OTLP_ENDPOINT); otherwise the
OpenTelemetry API's no-op tracer is used and tracing costs next to nothing. The trace
crosses Redis as a W3C `traceparent` field of the stream entry, written by ingest and
continued by the flow.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import context, trace
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aiops.settings import Settings

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"  # the stream entry field, as W3C Trace Context names it
TENANT_ID = "aiops.tenant_id"
EVENT_ID = "aiops.event_id"

_PROPAGATOR = TraceContextTextMapPropagator()
AttributeValue = str | bool | int | float


def otlp_endpoint(settings: Settings) -> str | None:
    return settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def configure_tracing(settings: Settings, process: str) -> bool:
    """Exports this process's spans over OTLP when an endpoint is configured; True if so.

    Called once by each process's entry point (never at import)."""
    endpoint = otlp_endpoint(settings)
    if endpoint is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    traces_url = endpoint.rstrip("/")
    if not traces_url.endswith("/v1/traces"):
        traces_url += "/v1/traces"
    provider = TracerProvider(resource=Resource.create({"service.name": f"aiops-{process}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    trace.set_tracer_provider(provider)
    log.info("tracing: spans of %s go to %s", process, traces_url)
    return True


@functools.cache
def tracer() -> trace.Tracer:
    # Cached: each get_tracer call builds a tracer (ingest asks once per webhook). One got
    # before configure_tracing() is a proxy that delegates to the provider set later.
    return trace.get_tracer("aiops")


def tracing_on() -> bool:
    """Whether a tracer provider is set (configure_tracing, or a test's own). Until one is,
    spans go nowhere, yet the API's no-op tracer still costs a few µs per span (a context
    manager, a span object, a context switch), which ingest pays on every webhook and the
    flow on every stage of every event: the helpers below make none then."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def current_span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None
) -> AbstractContextManager[Span]:
    """A new current span, as tracer().start_as_current_span makes it; the invalid span,
    which records nothing, when nothing is traced."""
    if not tracing_on():
        return nullcontext(trace.INVALID_SPAN)
    return tracer().start_as_current_span(name, attributes=attributes)


def started_span(name: str, attributes: Mapping[str, AttributeValue]) -> Span:
    """A new span that is not made current, for the caller to end; the invalid span (whose
    status and end do nothing) when nothing is traced."""
    if not tracing_on():
        return trace.INVALID_SPAN
    return tracer().start_span(name, attributes=attributes)


def current_traceparent() -> str | None:
    """The current span as a `traceparent` value; None when nothing is traced."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


@contextmanager
def continued_span(
    name: str, traceparent: str | None, attributes: Mapping[str, AttributeValue]
) -> Iterator[Span]:
    """A span that continues the trace `traceparent` names (a new trace without one); the
    invalid span when nothing is traced."""
    if not tracing_on():
        yield trace.INVALID_SPAN
        return
    parent = _PROPAGATOR.extract({TRACEPARENT: traceparent}) if traceparent else None
    token = context.attach(parent) if parent is not None else None
    try:
        with tracer().start_as_current_span(name, attributes=attributes) as span:
            yield span
    finally:
        if token is not None:
            context.detach(token)
