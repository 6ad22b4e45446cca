"""Prometheus metrics of one ingest app, in a registry of its own.

With several uvicorn workers, `aiops up` sets prometheus_client's own
PROMETHEUS_MULTIPROC_DIR: every worker's counters go to files there, and a scrape sums
the files, so /metrics shows the whole ingest whichever worker answers.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from aiops.process_health import SupervisedComponents

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


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
        # Each (source, outcome)'s counter, got once: labels() takes a lock and builds
        # the label tuple on every call, which the webhook path would pay per request.
        self._counted: dict[tuple[str, str], Counter] = {}
        self._scraped = self.registry
        shared = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
        if shared:
            self._scraped = CollectorRegistry()
            MultiProcessCollector(self._scraped, path=shared)
        if supervisor_status is not None:
            # What `aiops up` reports of the components it runs, read at scrape time.
            self._scraped.register(SupervisedComponents(supervisor_status))

    def count_webhook(self, source: str, outcome: str) -> None:
        counter = self._counted.get((source, outcome))
        if counter is None:
            counter = self._counted[source, outcome] = self.webhooks.labels(source, outcome)
        counter.inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: this worker's metrics, or every worker's."""
        return generate_latest(self._scraped)
