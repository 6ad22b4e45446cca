"""What the enhancement flow's steps share in one process, built on first use.

Nothing connects at import or when the flow is built: the database pool, HTTP client,
thread pools and caches appear when the first item arrives, so `build_flow()` stays cheap
and a flow that never sees an event never opens a connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import httpx

from aiops.errors import PermanentError
from aiops.logs import log_context
from aiops.retry import call_with_retries
from aiops.secrets import secret_box
from aiops.settings import Settings
from aiops.tracing import EVENT_ID, TENANT_ID, continued_span
from flows import decode, history
from flows.budget import BudgetGate
from flows.gather import Gatherer
from flows.indexes import FullBuild, StoredTicketIndexes, TenantIndexes
from flows.items import DeadLetter, Entry, Outcome, Received
from flows.metrics import FlowMetrics
from flows.process import Services, process_event
from flows.scheduler import run_fair
from flows.tenant_cache import TenantCache
from flows.transactions import classified_database_errors
from itsm import registry
from itsm.base import ItsmClient, ItsmConnection
from warehouse import knowledge, tickets
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import TenantConfig, get_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")

# Context sources gathered at once per event (similar tickets, KB, inventory, monitoring).
_SOURCES_PER_EVENT = 4


@dataclass(frozen=True)
class _Started:
    db: Database
    http: httpx.Client
    gather_pool: ThreadPoolExecutor
    services: Services


class FlowRuntime:
    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("the flow needs AI_AGENTS_DATABASE_URL (the application role)")
        self.settings = settings
        self.metrics = FlowMetrics()
        self._started: _Started | None = None
        self._start_lock = threading.Lock()
        self._local = threading.local()
        self._worker_pools: list[ThreadPoolExecutor] = []

    # Steps -------------------------------------------------------------------------------

    def decode(self, entry: Entry) -> Received | DeadLetter:
        decoded = decode.decode_entry(entry)
        if isinstance(decoded, DeadLetter):
            log.warning(
                "dead-lettering %s %s: %s", entry.stream, entry.entry_id, decoded.fields["error"]
            )
            self.metrics.dead_letters.labels("undecodable").inc()
        return decoded

    def store_resolved(self, batch: list[Received]) -> list[DeadLetter]:
        started = self._start()
        dead = history.store_resolved(started.db, started.services.retry, batch)
        self.metrics.resolved.labels("stored").inc(len(batch) - len(dead))
        self.metrics.resolved.labels("failed").inc(len(dead))
        for letter in dead:
            self.metrics.dead_letters.labels(str(letter.fields["error_kind"])).inc()
        return dead

    def enhance_batch(self, batch: list[tuple[str, Received]]) -> list[Outcome]:
        """The whole batch at once: up to flow_concurrency in flight, round-robin by tenant.

        Two copies of one event must never be in flight together (both would find no note
        and post one), so a batch keeps only the first copy of each event id.
        """
        services = self._start().services
        unique: dict[tuple[str, str], tuple[str, Received]] = {}
        for tenant_id, received in batch:
            unique.setdefault((tenant_id, received.event.event_id), (tenant_id, received))
        self.metrics.events.labels("duplicate").inc(len(batch) - len(unique))
        with self.metrics.workers.busy():
            return run_fair(
                unique.values(),
                partial(self._enhance_one, services),
                self._worker_pool(),
                limit=self.settings.flow_concurrency,
                per_key_limit=self.settings.flow_tenant_concurrency,
            )

    def dead_letter_for(self, outcome: Outcome) -> DeadLetter | None:
        if outcome.status != "failed":
            return None
        kind = outcome.error_kind or "internal"
        self.metrics.dead_letters.labels(kind).inc()
        return outcome.received.dead_letter(outcome.error or "unknown error", kind)

    def serve_metrics(self) -> None:
        """Prometheus /metrics on flow_metrics_port (if set), from now until `close`."""
        if self.settings.flow_metrics_port:
            self.metrics.serve(self.settings.flow_metrics_port, self.settings.host)

    def close(self) -> None:
        self.metrics.stop()
        for pool in self._worker_pools:
            pool.shutdown(wait=True)
        if self._started is not None:
            self._started.gather_pool.shutdown(wait=False, cancel_futures=True)
            self._started.http.close()
            self._started.db.close()
            self._started = None

    # Internals ---------------------------------------------------------------------------

    def _enhance_one(self, services: Services, received: Received) -> Outcome:
        event = received.event
        with log_context(tenant_id=event.tenant_id, event_id=event.event_id):
            return self._enhance(services, received)

    def _enhance(self, services: Services, received: Received) -> Outcome:
        self.metrics.in_flight.inc()
        event = received.event
        attributes = {TENANT_ID: event.tenant_id, EVENT_ID: event.event_id}
        # The webhook's trace continues here, across Redis.
        try:
            with continued_span("flow enhance", received.traceparent, attributes) as span:
                outcome = process_event(received, services)
                span.set_attribute("aiops.outcome", outcome.status)
        finally:
            self.metrics.in_flight.dec()
        self.metrics.observe(outcome)
        log.info(
            "tenant %s ticket %s event %s: %s%s",
            event.tenant_id,
            event.ticket.id,
            event.event_id,
            outcome.status,
            f" ({outcome.error_kind}: {outcome.error})" if outcome.error else "",
        )
        return outcome

    def _worker_pool(self) -> ThreadPoolExecutor:
        """One pool per Bytewax worker thread, so the in-flight limit holds per worker."""
        pool: ThreadPoolExecutor | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = ThreadPoolExecutor(
                max_workers=self.settings.flow_concurrency, thread_name_prefix="enhance"
            )
            self._local.pool = pool
            with self._start_lock:
                self._worker_pools.append(pool)
        return pool

    def _retry(self, fn: Callable[[], T]) -> T:
        return call_with_retries(
            fn,
            attempts=self.settings.flow_attempts,
            base_delay=self.settings.flow_retry_base_seconds,
        )

    def _start(self) -> _Started:
        with self._start_lock:
            if self._started is None:
                self._started = self._build()
            return self._started

    def _build(self) -> _Started:
        settings = self.settings
        assert settings.database_url is not None
        concurrency = settings.flow_concurrency
        box = secret_box(settings)
        db = Database(
            settings.database_url, context_keys(box).signing, max_size=concurrency + 2
        ).open()
        http = httpx.Client(
            limits=httpx.Limits(max_connections=concurrency * 2),
            timeout=settings.itsm_timeout_seconds,
        )
        gather_pool = ThreadPoolExecutor(
            max_workers=concurrency * _SOURCES_PER_EVENT, thread_name_prefix="gather"
        )
        ttl = settings.tenant_cache_seconds
        gatherer = Gatherer(
            db,
            TenantIndexes(
                db,
                version=tickets.index_version,
                source=StoredTicketIndexes(
                    db, settings.warehouse_path, observe=self.metrics.observe_index
                ),
                ttl_seconds=ttl,
            ),
            TenantIndexes(
                db,
                version=knowledge.articles_version,
                source=FullBuild(
                    load=knowledge.all_articles,
                    document=lambda a: (a.article_id, f"{a.title}\n{a.body}"),
                ),
                ttl_seconds=ttl,
            ),
            http,
            gather_pool,
            similar_k=settings.similar_tickets_k,
            kb_k=settings.kb_articles_k,
            timeout_seconds=settings.gather_timeout_seconds,
        )

        def load_tenant(tenant_id: str) -> TenantConfig | None:
            with classified_database_errors():
                return get_tenant(db, box, tenant_id)

        def itsm_client(tenant: TenantConfig) -> ItsmClient:
            assert tenant.itsm_base_url is not None and tenant.itsm_api_key is not None
            try:
                plugin = registry.plugin(tenant.itsm_source)
            except KeyError as exc:
                raise PermanentError(exc.args[0]) from exc
            connection = ItsmConnection(
                base_url=tenant.itsm_base_url,
                api_key=tenant.itsm_api_key,
                flavor=tenant.itsm_flavor,
                username=tenant.itsm_username,
                timeout_seconds=settings.itsm_timeout_seconds,
            )
            return plugin.client(connection, http)

        services = Services(
            db=db,
            tenant=TenantCache(load_tenant, ttl).get,
            gather=gatherer.gather,
            # The tenant's model chain, or offline once its monthly LLM budget is spent.
            synthesizer=BudgetGate(db, settings, self.metrics.llm_budget_used).synthesizer,
            itsm=itsm_client,
            retry=self._retry,
        )
        return _Started(db, http, gather_pool, services)
