"""Prometheus metrics of the flow process, in a registry of its own."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from flows.indexes import IndexBuild
from flows.items import Outcome


class FlowMetrics:
    def __init__(self) -> None:
        # A registry per runtime rather than the global one, so tests can build many flows.
        self.registry = CollectorRegistry()
        self._server: WSGIServer | None = None
        self.events = Counter(
            "aiops_flow_events",
            "Ticket events handled, by outcome (succeeded, stored, skipped, failed, duplicate).",
            ["outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "aiops_flow_failures",
            "Failed events by error kind (transient, permanent, internal).",
            ["kind"],
            registry=self.registry,
        )
        self.resolved = Counter(
            "aiops_flow_resolved_tickets",
            "Resolved tickets by outcome (stored, failed) into the ticket history.",
            ["outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "aiops_flow_dead_letters",
            "Entries sent to the dead-letter stream, by error kind.",
            ["kind"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "aiops_flow_stage_seconds",
            "Time per stage of one event (tenant, begin, gather, synthesize, write_back, total).",
            ["stage"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.ticket_index_builds = Counter(
            "aiops_flow_ticket_index_builds",
            "Similar-ticket index builds per tenant, by origin (artifact, artifact+delta, "
            "delta, or a full read: no artifact / unreadable artifact).",
            ["origin"],
            registry=self.registry,
        )
        self.ticket_index_rows_read = Counter(
            "aiops_flow_ticket_index_rows_read",
            "ticket_history rows read to build or bring up to date similar-ticket indexes.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "aiops_flow_in_flight",
            "Ticket events being processed right now.",
            registry=self.registry,
        )

    def observe(self, outcome: Outcome) -> None:
        self.events.labels(outcome.status).inc()
        if outcome.error_kind is not None:
            self.failures.labels(outcome.error_kind).inc()
        for stage, ms in outcome.timings.items():
            self.stage_seconds.labels(stage).observe(ms / 1000)

    def observe_index(self, build: IndexBuild) -> None:
        self.ticket_index_builds.labels(build.origin).inc()
        self.ticket_index_rows_read.inc(build.rows_read)

    def serve(self, port: int, host: str) -> None:
        """Serves /metrics from a background thread until `stop`; once, however often asked."""
        if self._server is None:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
