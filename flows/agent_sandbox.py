"""Running an agent version on one ticket with no side effect, and the trace of every stage.

The stages are the flow's own (masking, the gatherer, the synthesizer and prompt builder,
the note renderer), run once each with no retries so the trace shows exactly what
happened. Nothing is posted, no enhancement_history row is written and no production
metric moves; the run itself is stored in sandbox_runs (its cost counts against the
tenant's monthly LLM budget, which it respects). The flow uses the same
`trace_run` for shadow versions.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import Gauge

from aiops.agent_spec import AgentSpec, Expectation, RunFacts, applies, failures
from aiops.crypto import SecretBox
from aiops.events import Event, Ticket
from aiops.settings import Settings
from flows.agents import GatherPlan, clip_note, plan_for, tenant_for
from flows.budget import BudgetGate
from flows.context import Context
from flows.gather import gatherer_for, search_query
from flows.masking import mask_context, mask_event, redactor_for
from flows.synthesis import EveryModelFailed, Synthesis, Synthesizer
from flows.synthesis.choose import llm_route
from flows.synthesis.instructions import Messages, messages_for
from flows.writeback import render_note_html
from warehouse import agent_runs
from warehouse.agent_runs import RunRecord
from warehouse.db import Database
from warehouse.tenants import TenantConfig, get_tenant

log = logging.getLogger(__name__)

_SOURCES = ("similar_tickets", "kb_articles", "inventory", "monitoring")
_ERROR_CHARS = 2_000


class UnknownTenantError(LookupError):
    pass


class _NotApplicable(Exception):
    """Ends a shadow run whose version's rules do not take the ticket."""


@dataclass(frozen=True)
class Parts:
    """The flow's stages, as a run uses them."""

    gather: Callable[[Event, TenantConfig, GatherPlan], Context]
    synthesizer: Callable[[TenantConfig, Messages], Synthesizer]


class _Trace:
    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    def add(self, name: str, status: str, ms: float, input: Any, output: Any) -> None:
        self.stages.append(
            {"name": name, "status": status, "ms": round(ms, 2), "input": input, "output": output}
        )

    @contextmanager
    def stage(self, name: str, input: Any) -> Iterator[dict[str, Any]]:
        """Times the block; it fills `output` (and `status`) in the dict it is given."""
        started = time.perf_counter()
        result: dict[str, Any] = {"status": "ok", "output": None}
        try:
            yield result
        except Exception as exc:
            self.add(name, f"failed: {_reason(exc)}", _ms(started), input, result["output"])
            raise
        self.add(name, result["status"], _ms(started), input, result["output"])

    @property
    def ms(self) -> float:
        return _ms(self._started)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


def _source_stage(name: str, event: Event, plan: GatherPlan, context: Context) -> dict[str, Any]:
    k = {"similar_tickets": plan.similar_k, "kb_articles": plan.kb_k}
    found: Any = {
        "similar_tickets": [asdict(t) for t in context.similar_tickets],
        "kb_articles": [asdict(a) for a in context.kb_articles],
        "inventory": [asdict(h) for h in context.hosts],
        "monitoring": context.monitoring,
    }[name]
    if name in k:
        given: dict[str, Any] = {
            "query": search_query(event.ticket),
            "k": k[name],
            "min_relevance": plan.min_relevance,
        }
        output: Any = {"kept": found, "dropped": context.dropped.get(name, [])}
    else:
        given = {"hostnames": list(context.mentions.hostnames), "ips": list(context.mentions.ips)}
        output = found
    return {
        "name": name,
        "status": context.sources.get(name, "ok"),
        "ms": context.timings_ms.get(name, 0.0),
        "input": given,
        "output": output,
    }


def _attempts(synthesis: Synthesis) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"model": a.model, "api_base": a.api_base, "outcome": "failed", "error": a.error}
        if a.error
        else {
            "model": a.model,
            "api_base": a.api_base,
            "outcome": "succeeded",
            "answer": synthesis.text,
        }
        for a in synthesis.attempts
    ]
    if not rows:  # the offline synthesizer asks no model
        rows.append({"model": None, "outcome": "offline", "answer": synthesis.text})
    return rows


def trace_run(
    parts: Parts,
    settings: Settings,
    tenant: TenantConfig,
    event: Event,
    spec: AgentSpec,
    *,
    agent_id: str,
    version: int,
    kind: str,
    case_id: int | None = None,
    live_event_id: str | None = None,
    expectations: list[Expectation] | None = None,
) -> RunRecord:
    """Runs `spec` on the event, stage by stage; never raises (a failure is in the record)."""
    trace = _Trace()
    record = RunRecord(
        run_id=uuid.uuid4().hex,
        agent_id=agent_id,
        version=version,
        kind=kind,
        ticket_id=event.ticket.id,
        status="failed",
        ms=0.0,
        case_id=case_id,
        event_id=live_event_id,
    )
    category = event.ticket.category
    try:
        with trace.stage("mask", {"mask_personal_data": tenant.mask_personal_data}) as stage:
            redactor = redactor_for(tenant, event)
            event = mask_event(event, redactor)
            stage["output"] = event.ticket.model_dump(mode="json")
        with trace.stage("applies_to", spec.applies_to.model_dump()) as stage:
            selected, why = applies(spec.applies_to, event.ticket)
            stage["output"] = {"applies": selected, "why": why}
        # Asked for, a sandbox or test run goes on regardless; a shadow version only runs
        # on the live tickets its own rules take.
        if kind == "shadow" and not selected:
            record.status = "not_applicable"
            raise _NotApplicable()
        plan = plan_for(spec)
        started = time.perf_counter()
        try:
            context = mask_context(parts.gather(event, tenant, plan), redactor)
        except Exception as exc:
            trace.add("gather", f"failed: {_reason(exc)}", _ms(started), asdict(plan), None)
            raise
        trace.stages += [_source_stage(name, event, plan, context) for name in _SOURCES]
        agent_tenant = tenant_for(spec, tenant)
        messages = messages_for(spec)
        with trace.stage(
            "prompt", {"instructions": spec.instructions, "note": spec.note.model_dump()}
        ) as stage:
            stage["output"] = {"messages": messages(event, context)}
        route = llm_route(agent_tenant, settings)
        chain = list(route.models) if route is not None else ["offline"]
        with trace.stage("model", {"chain": chain}) as stage:
            try:
                synthesis = parts.synthesizer(agent_tenant, messages).synthesize(event, context)
            except EveryModelFailed as exc:
                stage["output"] = {
                    "attempts": [
                        {
                            "model": a.model,
                            "api_base": a.api_base,
                            "outcome": "failed",
                            "error": a.error,
                        }
                        for a in exc.attempts
                    ]
                }
                raise
            stage["output"] = {
                "attempts": _attempts(synthesis),
                "prompt_tokens": synthesis.prompt_tokens,
                "completion_tokens": synthesis.completion_tokens,
                "cost_usd": synthesis.cost_usd,
            }
        with trace.stage("render", {"chars": len(synthesis.text)}) as stage:
            note = clip_note(synthesis.text, spec)
            html = render_note_html(note, f"[AI Ops ref {kind} {record.run_id}]")
            stage["output"] = {"note": note, "html": html, "chars": len(note)}
        record.status = "succeeded"
        record.note = note
        record.synthesizer = synthesis.synthesizer
        record.model = synthesis.model
        record.prompt_tokens = synthesis.prompt_tokens
        record.completion_tokens = synthesis.completion_tokens
        record.cost_usd = synthesis.cost_usd
        category = event.ticket.category
    except _NotApplicable:
        pass
    except Exception as exc:
        record.error = _reason(exc)
    record.stages = trace.stages
    record.ms = trace.ms
    if expectations is not None:
        facts = RunFacts(record.status, record.note or "", category)
        record.failures = failures(expectations, facts)
        record.passed = not record.failures
    return record


def sandbox_event(tenant: TenantConfig, ticket: Ticket, run_kind: str) -> Event:
    return Event(
        event_id=f"{run_kind}-{uuid.uuid4().hex}",
        tenant_id=tenant.tenant_id,
        source=tenant.itsm_source,
        kind="created",
        ticket=ticket,
        received_at=datetime.now(UTC),
    )


class Sandbox:
    """The API's (and the CLI's) runner: its own indexes, HTTP client and threads, built on
    first use, so a management process that never runs a sandbox opens none of them."""

    def __init__(self, db: Database, settings: Settings, box: SecretBox) -> None:
        self._db = db
        self._settings = settings
        self._box = box
        self._lock = threading.Lock()
        self._parts: Parts | None = None
        self._closers: list[Callable[[], None]] = []

    def _build(self) -> Parts:
        settings, db = self._settings, self._db
        http = httpx.Client(timeout=settings.gather_timeout_seconds)
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sandbox-gather")
        self._closers += [http.close, lambda: pool.shutdown(wait=False, cancel_futures=True)]
        gatherer = gatherer_for(db, settings, http, pool)
        # The tenant's budget holds here too (an exhausted one gets offline notes), read
        # afresh for every run (one query; a person waits on it), with a gauge of its own:
        # the production one is the flow's.
        gauge = Gauge("sandbox_llm_budget_used_ratio", "unexported", ["tenant_id"], registry=None)
        fresh = settings.model_copy(update={"tenant_cache_seconds": 0.0})
        gate = BudgetGate(db, fresh, gauge)
        return Parts(gather=gatherer.gather, synthesizer=gate.synthesizer)

    @property
    def db(self) -> Database:
        return self._db

    def parts(self) -> Parts:
        with self._lock:
            if self._parts is None:
                self._parts = self._build()
            return self._parts

    def run(
        self,
        tenant_id: str,
        agent_id: str,
        version: int,
        spec: AgentSpec,
        ticket: Ticket,
        *,
        kind: str,
        case_id: int | None = None,
        expectations: list[Expectation] | None = None,
    ) -> RunRecord:
        tenant = get_tenant(self._db, self._box, tenant_id)
        if tenant is None:
            raise UnknownTenantError(f"no tenant {tenant_id!r}")
        record = trace_run(
            self.parts(),
            self._settings,
            tenant,
            sandbox_event(tenant, ticket, kind),
            spec,
            agent_id=agent_id,
            version=version,
            kind=kind,
            case_id=case_id,
            expectations=expectations,
        )
        with self._db.tenant(tenant_id) as conn:
            stored = agent_runs.store(conn, record)
        record.created_at = stored["created_at"]
        return record

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()
