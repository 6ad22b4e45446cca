"""Context for one ticket from every source at once, each bounded by the same deadline.

Similar resolved tickets (BM25 and embeddings, those below the relevance floor left out)
and KB articles (BM25) over the tenant's own rows, inventory rows
for the hosts the ticket mentions, and the tenant's monitoring endpoint. A source that
fails or runs out of time is recorded as such in the context; the event carries on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import httpx

from aiops.events import Event, Ticket
from aiops.settings import Settings
from flows.agents import GatherPlan
from flows.context import EMPTY, OK, Context, KbArticle, SimilarTicket, failed
from flows.extract import Mentions, find_mentions
from flows.indexes import FullBuild, IndexBuild, StoredTicketIndexes, TenantIndexes
from flows.triage import ticket_type
from warehouse import knowledge, tickets
from warehouse.db import Database
from warehouse.knowledge import Article, Host, find_hosts
from warehouse.tenants import TenantConfig

log = logging.getLogger(__name__)

NOT_CONFIGURED = "skipped: not configured"
NOT_USED = "skipped: not used by the agent"
MONITORING_MAX_BYTES = 64 * 1024
_QUERY_CHARS = 4_000
_RESOLUTION_CHARS = 1_500
_EXCERPT_CHARS = 600
_REASON_CHARS = 200


def describe_failure(exc: BaseException) -> str:
    """A short reason for the context; never the URL (it may carry a tenant's token)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__
    return f"{type(exc).__name__}: {str(exc)[:_REASON_CHARS]}".rstrip(": ")


def search_query(ticket: Ticket) -> str:
    """What similar tickets and KB articles are searched with."""
    return ticket.text[:_QUERY_CHARS]


def _timed(job: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = job()
    return value, round((time.perf_counter() - started) * 1000, 2)


def read_monitoring(http: httpx.Client, url: str, mentions: Mentions, timeout: float) -> Any:
    """The endpoint's JSON for the mentioned hosts; past MONITORING_MAX_BYTES, the text so far."""
    hosts = [*mentions.hostnames, *mentions.ips]
    params = {"hosts": ",".join(hosts)} if hosts else None
    body = bytearray()
    with http.stream("GET", url, params=params, timeout=timeout) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MONITORING_MAX_BYTES:
                text = bytes(body[:MONITORING_MAX_BYTES]).decode(errors="replace")
                return {"truncated": True, "text": text}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ValueError("monitoring answered with something other than JSON") from exc


class Gatherer:
    def __init__(
        self,
        db: Database,
        tickets: TenantIndexes[Ticket],
        articles: TenantIndexes[Article],
        http: httpx.Client,
        executor: Executor,
        *,
        similar_k: int,
        min_relevance: float,
        kb_k: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        waiting: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        """`waiting()`: held while the gather waits on its I/O sources (flows.gate lends
        the event's slot meanwhile)."""
        self._db = db
        self._tickets = tickets
        self._articles = articles
        self._http = http
        self._executor = executor
        self._similar_k = similar_k
        self._min_relevance = min_relevance
        self._kb_k = kb_k
        self._timeout = timeout_seconds
        self._clock = clock
        self._waiting = waiting

    def gather(
        self,
        event: Event,
        tenant: TenantConfig,
        plan: GatherPlan | None = None,
        mentions: Mentions | None = None,
    ) -> Context:
        """`plan`: an agent version's sources and relevance floor; None: the settings'.
        `mentions`: the ticket text's, if the caller found them already."""
        plan = plan or GatherPlan(self._similar_k, self._kb_k)
        floor = self._min_relevance if plan.min_relevance is None else plan.min_relevance
        ticket = event.ticket
        query = search_query(ticket)
        mentions = mentions if mentions is not None else find_mentions(ticket.text)
        sources: dict[str, str] = {}
        # Similar tickets and KB articles are searched here, in memory: a hop to another
        # thread costs more CPU than the search, and under load the hop, not the search,
        # made sources miss the deadline. Inventory and monitoring wait on I/O: in parallel.
        found: dict[str, Any] = {}
        timings: dict[str, float] = {}
        local: dict[str, Callable[[], Any]] = {}
        dropped_tickets: list[dict[str, Any]] = []
        if plan.similar_k:
            local["similar_tickets"] = lambda: self._similar(
                tenant.tenant_id, query, ticket.id, plan.similar_k, floor, dropped_tickets
            )
        if plan.kb_k:
            local["kb_articles"] = lambda: self._kb(tenant.tenant_id, query, plan.kb_k)
        jobs: dict[str, Callable[[], Any]] = {}
        if plan.inventory:
            # A ticket that names no host needs no inventory query: nothing to wait for.
            (jobs if mentions else local)["inventory"] = lambda: self._inventory(
                tenant.tenant_id, mentions
            )
        for name, used in (("similar_tickets", plan.similar_k), ("kb_articles", plan.kb_k)):
            if not used:
                sources[name] = NOT_USED
        if not plan.inventory:
            sources["inventory"] = NOT_USED
        monitoring_url = tenant.monitoring_url
        if not plan.monitoring:
            sources["monitoring"] = NOT_USED
        elif monitoring_url:
            jobs["monitoring"] = lambda: read_monitoring(
                self._http, monitoring_url, mentions, self._timeout
            )
        else:
            sources["monitoring"] = NOT_CONFIGURED

        deadline = self._clock() + self._timeout
        futures: dict[str, Future[tuple[Any, float]]] = {
            name: self._executor.submit(_timed, job) for name, job in jobs.items()
        }
        for name, job in local.items():
            try:
                found[name], timings[name] = _timed(job)
            except Exception as exc:
                reason = describe_failure(exc)
                log.warning("tenant %s: source %s failed: %s", tenant.tenant_id, name, reason)
                sources[name] = failed(reason)
            else:
                sources[name] = OK if found[name] else EMPTY
        if futures:
            with self._waiting():
                self._collect(futures, deadline, tenant.tenant_id, found, timings, sources)
        # KB scores are BM25's, unbounded: the 0..1 floor is for ticket closeness only.
        dropped = {"similar_tickets": dropped_tickets}
        return Context(
            similar_tickets=found.get("similar_tickets", []),
            kb_articles=found.get("kb_articles", []),
            dropped={name: items for name, items in dropped.items() if items},
            mentions=mentions,
            hosts=found.get("inventory", []),
            monitoring=found.get("monitoring"),
            sources=sources,
            timings_ms=timings,
        )

    def _collect(
        self,
        futures: dict[str, Future[tuple[Any, float]]],
        deadline: float,
        tenant_id: str,
        found: dict[str, Any],
        timings: dict[str, float],
        sources: dict[str, str],
    ) -> None:
        for name, future in futures.items():
            try:
                found[name], timings[name] = future.result(
                    timeout=max(0.0, deadline - self._clock())
                )
            except TimeoutError:
                future.cancel()
                sources[name] = failed(f"timed out after {self._timeout:g}s")
            except Exception as exc:
                reason = describe_failure(exc)
                log.warning("tenant %s: source %s failed: %s", tenant_id, name, reason)
                sources[name] = failed(reason)
            else:
                sources[name] = OK if found[name] else EMPTY

    def _similar(
        self,
        tenant_id: str,
        query: str,
        ticket_id: str,
        k: int,
        floor: float,
        dropped: list[dict[str, Any]],
    ) -> list[SimilarTicket]:
        """The `k` best at or above `floor`; only those are read from the database. The
        ones the floor left out go to `dropped`, by id and score."""
        index = self._tickets.get(tenant_id)
        # Twice k: the floor may drop some of the best fused, and the next may pass it.
        scored = index.scores(query, 2 * k, exclude=ticket_id)
        kept = [(doc_id, score) for doc_id, score in scored if score >= floor][:k]
        dropped.extend(
            {
                "ticket_id": doc_id,
                "score": round(score, 3),
                "reason": f"score {round(score, 3):g} below min_relevance {floor:g}",
            }
            for doc_id, score in scored
            if score < floor
        )
        found = index.read([doc_id for doc_id, _ in kept]) if kept else {}
        hits = [(found[doc_id], score) for doc_id, score in kept if doc_id in found]
        return [
            SimilarTicket(
                ticket_id=t.id,
                subject=t.subject,
                resolution=t.resolution[:_RESOLUTION_CHARS] if t.resolution else None,
                category=t.category,
                score=round(relevance, 3),
                priority=t.priority,
                type=ticket_type(t),
            )
            for t, relevance in hits
        ]

    def _kb(self, tenant_id: str, query: str, k: int) -> list[KbArticle]:
        hits = self._articles.get(tenant_id).search(query, k)
        return [
            KbArticle(a.article_id, a.title, a.url, a.body[:_EXCERPT_CHARS], round(score, 3))
            for a, score in hits
        ]

    def _inventory(self, tenant_id: str, mentions: Mentions) -> Sequence[Host]:
        if not mentions:
            return []
        with self._db.tenant(tenant_id) as conn:
            return find_hosts(conn, mentions.hostnames, mentions.ips)


def gatherer_for(
    db: Database,
    settings: Settings,
    http: httpx.Client,
    executor: Executor,
    observe_index: Callable[[IndexBuild], None] = lambda _: None,
    waiting: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> Gatherer:
    """The gatherer the settings describe: the flow's, and the agent sandbox's."""
    ttl = settings.tenant_cache_seconds
    return Gatherer(
        db,
        TenantIndexes(
            db,
            version=tickets.index_version,
            source=StoredTicketIndexes(db, settings.warehouse_path, observe=observe_index),
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
        executor,
        similar_k=settings.similar_tickets_k,
        min_relevance=settings.similar_tickets_min_relevance,
        kb_k=settings.kb_articles_k,
        timeout_seconds=settings.gather_timeout_seconds,
        waiting=waiting,
    )
