"""Prometheus metrics of one ingest app, in a registry of its own."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from aiops.process_health import SupervisedComponents


class IngestMetrics:
    def __init__(self, supervisor_status: Path | None = None) -> None:
        # A registry per app rather than the global one, so one process can build many apps.
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "aiops_ingest_webhooks",
            "Webhook requests by ITSM source and outcome.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.enqueue_seconds = Histogram(
            "aiops_ingest_enqueue_seconds",
            "Time of the atomic dedupe-and-append step in Redis.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        if supervisor_status is not None:
            # What `aiops up` reports of the components it runs, read at scrape time.
            self.registry.register(SupervisedComponents(supervisor_status))
