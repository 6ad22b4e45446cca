"""Prometheus metrics of the flow process, in a registry of its own.

Besides our `aiops_flow_*` names, the ones operators' existing dashboards and alerts use:
enhancement_requests_total{tenant_id,status}, enhancement_duration_seconds,
enhancement_success_rate{tenant_id}, queue_depth{queue_name}, worker_active_count.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from flows.indexes import IndexBuild
from flows.items import Outcome
from flows.liveness import SuccessWindow, WorkerBeats

log = logging.getLogger(__name__)

# The success rate is over this much recent history; a worker that has not read its
# streams (nor been busy with a batch) for WORKER_SECONDS is not counted as active.
SUCCESS_WINDOW_SECONDS = 600.0
WORKER_SECONDS = 60.0
_FINISHED = {"succeeded": True, "stored": True, "failed": False}


class FlowMetrics:
    def __init__(
        self,
        success_window: SuccessWindow | None = None,
        workers: WorkerBeats | None = None,
    ) -> None:
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
            "Resolved tickets by outcome (stored, failed; skipped: read from the ITSM, "
            "not resolved) into the ticket history.",
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
        self.noise = Counter(
            "aiops_flow_noise_skipped",
            "Tickets given no note because they are noise, by reason (auto_reply, "
            "out_of_office, delivery_failure, newsletter, empty).",
            ["reason"],
            registry=self.registry,
        )
        self.incident_tickets = Counter(
            "aiops_flow_incident_tickets",
            "New tickets that resemble tickets the tenant opened in the last minutes (same "
            "host, service or error): a burst means an ongoing incident.",
            ["tenant_id"],
            registry=self.registry,
        )
        self.fields_written = Counter(
            "aiops_flow_triage_fields_written",
            "Triage suggestions written to the ticket's own fields, by field.",
            ["field"],
            registry=self.registry,
        )
        self.fixes = Counter(
            "aiops_flow_fix_lookups",
            "Resolved tickets whose resolution only named a status, by what reading the "
            "fix from the ITSM gave (found, none, failed, unsupported).",
            ["outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "aiops_flow_in_flight",
            "Ticket events being processed right now.",
            registry=self.registry,
        )
        self.window = Gauge(
            "aiops_flow_window",
            "The in-flight window's size now: it shrinks while events queue for the CPU.",
            registry=self.registry,
        )

        self._success = success_window or SuccessWindow(SUCCESS_WINDOW_SECONDS)
        self.workers = workers or WorkerBeats(WORKER_SECONDS)
        self.requests = Counter(
            "enhancement_requests",
            "Ticket enhancements by tenant and status (succeeded, stored, skipped, failed).",
            ["tenant_id", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "enhancement_duration_seconds",
            "Time from taking an event to finishing it (every stage, retries included).",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120, 180, 300),
            registry=self.registry,
        )
        self.success_rate = Gauge(
            "enhancement_success_rate",
            "Share of the tenant's finished enhancements (succeeded, stored or failed) in "
            "the last 10 minutes that did not fail; NaN when it finished none.",
            ["tenant_id"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "queue_depth",
            "Stream entries after the flow's low-water mark: events not finished yet "
            "(capped at 10000).",
            ["queue_name"],
            registry=self.registry,
        )
        self.active_workers = Gauge(
            "worker_active_count",
            "Flow workers of this process that read their streams or had events in flight "
            "in the last minute.",
            registry=self.registry,
        )
        self.active_workers.set_function(self.workers.active)
        self.llm_budget_used = Gauge(
            "aiops_flow_llm_budget_used_ratio",
            "Share of the tenant's monthly LLM budget spent (tenants with a limit): a "
            "warning from 0.8, notes composed offline from 1.",
            ["tenant_id"],
            registry=self.registry,
        )

    # Called by the Redis source's partitions (flows.source.SourceWatch).
    def source_heartbeat(self) -> None:
        self.workers.beat()

    def queue_depth(self, stream: str, waiting: int) -> None:
        self.waiting.labels(stream).set(waiting)

    def observe(self, outcome: Outcome) -> None:
        tenant_id = outcome.received.event.tenant_id
        self.requests.labels(tenant_id, outcome.status).inc()
        if outcome.status in _FINISHED:
            if "total" in outcome.timings:
                self.duration.observe(outcome.timings["total"] / 1000)
            self._success.add(tenant_id, _FINISHED[outcome.status])
            rate = self._success.rate
            self.success_rate.labels(tenant_id).set_function(lambda: rate(tenant_id))
        self.events.labels(outcome.status).inc()
        if outcome.skip_reason is not None:
            self.noise.labels(outcome.skip_reason).inc()
        if outcome.incident_tickets:
            self.incident_tickets.labels(tenant_id).inc()
        for name in outcome.fields_written:
            self.fields_written.labels(name).inc()
        if outcome.error_kind is not None:
            self.failures.labels(outcome.error_kind).inc()
        for stage, ms in outcome.timings.items():
            self.stage_seconds.labels(stage).observe(ms / 1000)

    def observe_fix(self, outcome: str) -> None:
        self.fixes.labels(outcome).inc()

    def observe_index(self, build: IndexBuild) -> None:
        self.ticket_index_builds.labels(build.origin).inc()
        self.ticket_index_rows_read.inc(build.rows_read)

    def serve(self, port: int, host: str) -> None:
        """Serves /metrics from a background thread until `stop`; once, however often asked.

        A port already taken is logged, not raised: the flow keeps enhancing without metrics.
        """
        if self._server is None:
            try:
                self._server, _ = start_http_server(port, addr=host, registry=self.registry)
            except OSError as exc:
                log.error(
                    "flow metrics not served on %s:%d (%s); set AI_AGENTS_FLOW_METRICS_PORT to "
                    "a free port (0 turns them off)",
                    host,
                    port,
                    exc,
                )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
