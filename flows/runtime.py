"""What the enhancement flow's steps share in one process, built on first use.

Nothing connects at import or when the flow is built: the database pool, HTTP client,
thread pools and caches appear when the first item arrives, so `build_flow()` stays cheap
and a flow that never sees an event never opens a connection.

Each event runs on its own on a pool thread (Bytewax operators cannot be async): the
`enhance` step starts it and returns at once, so nothing waits for a batch. The source
only hands on as many events as the process's `FairWindow` has slots; when one ends, its
dead letter (if it failed) is written and its entry reported finished (`Acks`), which
frees its slot and lets the source forget it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import httpx

from aiops.cookies import no_cookies
from aiops.errors import PermanentError
from aiops.logs import log_context
from aiops.retry import call_with_retries
from aiops.secrets import secret_box
from aiops.settings import Settings
from aiops.shared_http import shared_client
from aiops.tracing import EVENT_ID, TENANT_ID, continued_span
from flows import history
from flows.agent_choice import NoteLinks
from flows.agent_sandbox import Parts
from flows.agent_shadow import ShadowRunner
from flows.agents import agent_directory
from flows.budget import BudgetGate
from flows.fixes import FixFinder
from flows.gate import FairGate
from flows.gather import gatherer_for
from flows.items import DeadLetter, Received
from flows.metrics import FlowMetrics
from flows.pointed_history import is_pointed_resolved, store_pointed_resolved
from flows.process import Services, process_event
from flows.sinks import DeadLetterWriter
from flows.source import Acks
from flows.tenant_cache import TenantCache
from flows.transactions import classified_database_errors
from flows.window import FairWindow
from itsm import registry
from itsm.base import ItsmClient, ItsmConnection
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import TenantConfig, get_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")

# Context sources per event that wait on I/O in parallel (inventory, monitoring).
_SOURCES_PER_EVENT = 2


@dataclass(frozen=True)
class _Started:
    db: Database
    http: httpx.Client
    gather_pool: ThreadPoolExecutor
    enhance_pool: ThreadPoolExecutor
    dead_letters: DeadLetterWriter
    services: Services
    fixes: FixFinder


class FlowRuntime:
    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("the flow needs AI_AGENTS_DATABASE_URL (the application role)")
        self.settings = settings
        self.metrics = FlowMetrics()
        # Never smaller than keeps the busy gate fed twice over.
        floor = 2 * settings.flow_busy_slots
        self.window = FairWindow(settings.flow_concurrency, floor)
        self.gate = FairGate(settings.flow_busy_slots, self.window.running)
        self.metrics.window.set(self.window.limit)
        self.acks = Acks()
        self._started: _Started | None = None
        self._start_lock = threading.Lock()
        # (tenant, event id) running now: two copies must never run together (both would
        # find no note and post one).
        self._running: set[tuple[str, str]] = set()
        self._running_lock = threading.Lock()
        self._local = threading.local()
        self._thread_clients: list[httpx.Client] = []

    # Steps -------------------------------------------------------------------------------

    def undecodable(self, step_id: str, letter: DeadLetter) -> None:
        fields = letter.fields
        log.warning(
            "dead-lettering %s %s: %s",
            fields["source_stream"],
            fields["source_id"],
            fields["error"],
        )
        self.metrics.dead_letters.labels("undecodable").inc()

    def store_resolved(self, batch: list[Received]) -> list[DeadLetter]:
        started = self._start()
        dead = history.store_resolved(started.db, started.services.retry, batch, started.fixes)
        self.metrics.resolved.labels("stored").inc(len(batch) - len(dead))
        self.metrics.resolved.labels("failed").inc(len(dead))
        failed = set()
        for letter in dead:
            self.metrics.dead_letters.labels(str(letter.fields["error_kind"])).inc()
            failed.add(letter.fields["source_id"])
        for item in batch:
            if item.entry_id not in failed:  # the dead-letter sink finishes the others
                self.acks.finished(item.stream, item.entry_id)
        return dead

    def enhance(self, batch: list[Received]) -> list[DeadLetter]:
        """Starts each event on its own and returns at once; see the module docstring."""
        started = self._start()
        for received in batch:
            key = (received.event.tenant_id, received.event.event_id)
            with self._running_lock:
                duplicate = key in self._running
                self._running.add(key)
            if duplicate:
                self.metrics.events.labels("duplicate").inc()
                self.acks.finished(received.stream, received.entry_id)
                continue
            # The worker that started it stays active while its events run.
            worker = threading.get_ident()
            started.enhance_pool.submit(self._enhance_one, started, received, worker)
        return []

    def serve_metrics(self) -> None:
        """Prometheus /metrics on flow_metrics_port (if set), from now until `close`."""
        if self.settings.flow_metrics_port:
            self.metrics.serve(self.settings.flow_metrics_port, self.settings.host)

    def close(self) -> None:
        """Waits for the events in flight, then closes every client."""
        self.metrics.stop()
        if self._started is not None:
            self._started.enhance_pool.shutdown(wait=True)
            self._started.gather_pool.shutdown(wait=False, cancel_futures=True)
            self._started.dead_letters.close()
            for client in self._thread_clients:
                client.close()
            self._started.http.close()
            self._started.db.close()
            self._started = None

    # Internals ---------------------------------------------------------------------------

    def _enhance_one(self, started: _Started, received: Received, worker: int) -> None:
        event = received.event
        with (
            log_context(tenant_id=event.tenant_id, event_id=event.event_id),
            self.metrics.workers.busy(worker),
        ):
            self._enhance(started, received)

    def _enhance(self, started: _Started, received: Received) -> None:
        event = received.event
        attributes = {TENANT_ID: event.tenant_id, EVENT_ID: event.event_id}
        self.metrics.in_flight.inc()
        try:
            # The webhook's trace continues here, across Redis.
            with continued_span("flow enhance", received.traceparent, attributes) as span:
                handle = store_pointed_resolved if is_pointed_resolved(received) else process_event
                outcome = handle(received, started.services)
                span.set_attribute("aiops.outcome", outcome.status)
        finally:
            self.metrics.in_flight.dec()
        if is_pointed_resolved(received):  # a history row, not an enhancement: skipped if open
            self.metrics.resolved.labels(outcome.status).inc()
        else:
            self.metrics.observe(outcome)
        log.info(
            "tenant %s ticket %s event %s: %s%s",
            event.tenant_id,
            event.ticket.id,
            event.event_id,
            outcome.status,
            f" ({outcome.error_kind}: {outcome.error})" if outcome.error else "",
        )
        with self._running_lock:
            self._running.discard((event.tenant_id, event.event_id))
        self.metrics.window.set(self.window.adapt(self.gate.waiting, self.gate.slots))
        try:
            if outcome.status == "failed":
                kind = outcome.error_kind or "internal"
                letter = received.dead_letter(outcome.error or "unknown error", kind)
                started.dead_letters.write([letter])  # finishes the entry
                self.metrics.dead_letters.labels(kind).inc()
            else:
                self.acks.finished(received.stream, received.entry_id)
        except Exception as exc:
            # Left unfinished: a resumed flow runs the event again and writes the letter.
            log.error("event %s: could not write its dead letter: %s", event.event_id, exc)

    def _thread_http(self, public_only: bool) -> httpx.Client:
        """The ITSM client of this pool thread (aiops.shared_http), closed with the
        runtime. `public_only`: for an address a tenant chose."""
        name = "public_http" if public_only else "http"
        client: httpx.Client | None = getattr(self._local, name, None)
        if client is None:
            client = shared_client(public_only, self.settings.itsm_timeout_seconds)
            setattr(self._local, name, client)
            with self._start_lock:
                self._thread_clients.append(client)
        return client

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
            settings.database_url, context_keys(box).signing, max_size=settings.flow_db_pool_size
        ).open()
        http = httpx.Client(
            limits=httpx.Limits(max_connections=concurrency * 2),
            timeout=settings.itsm_timeout_seconds,
            cookies=no_cookies(),
        )
        gather_pool = ThreadPoolExecutor(
            max_workers=concurrency * _SOURCES_PER_EVENT, thread_name_prefix="gather"
        )
        ttl = settings.tenant_cache_seconds
        gatherer = gatherer_for(
            db, settings, http, gather_pool, self.metrics.observe_index, self.gate.lent
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
                options=tenant.itsm_options,
                secrets=tenant.itsm_secrets,
            )
            return plugin.client(connection, self._thread_http(tenant.itsm_endpoint_public_only))

        # The tenant's model chain, or offline once its monthly LLM budget is spent.
        budget = BudgetGate(db, settings, self.metrics.llm_budget_used)
        services = Services(
            db=db,
            tenant=TenantCache(load_tenant, ttl).get,
            gather=gatherer.gather,
            synthesizer=budget.synthesizer,
            itsm=itsm_client,
            retry=self._retry,
            agent=agent_directory(db, settings).choice,
            shadows=ShadowRunner(db, settings, Parts(gatherer.gather, budget.synthesizer)).run,
            note_footer=NoteLinks(box, settings).footer,
            incident_window=timedelta(minutes=settings.incident_window_minutes),
            busy=self.gate.hold,
        )
        enhance_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="enhance")
        dead_letters = DeadLetterWriter(settings, self.acks.finished)
        fixes = FixFinder(services.tenant, itsm_client, self._retry, self.metrics.observe_fix)
        return _Started(db, http, gather_pool, enhance_pool, dead_letters, services, fixes)
