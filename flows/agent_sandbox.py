"""Running an agent version on one ticket with no side effect, and the trace of every stage.

A run is production's own pipeline (flows.process.process_event: tenant, masking, the
agent, the history row, noise, gathering, triage, the model, the note) with a tracer the
stages report to and sinks that keep nothing:

- the database is production's, but every transaction of the run is rolled back
  (Database.rolled_back): the history row, the triage signature and the spend that
  process_event writes exist only while the run lasts;
- the ticketing system is never called (the version's write-back mode is overridden to
  "shadow", and the ITSM factory refuses), so nothing is posted and no field is set;
- no shadow version runs, no retry hides a failure, no production metric moves (metrics
  are the flow's sink's, which a run never reaches).

The run itself is stored in sandbox_runs with its trace. Its model cost counts against
the tenant's monthly LLM budget there (an exhausted budget gives offline notes here as in
production): a sandbox must not be a way round the budget.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from prometheus_client import Gauge

from aiops.agent_spec import AgentSpec, Expectation, RunFacts, applies, failures
from aiops.cookies import no_cookies
from aiops.crypto import SecretBox
from aiops.errors import PermanentError
from aiops.events import Event, Ticket
from aiops.settings import Settings
from flows.agent_choice import prompt_of
from flows.agents import Choice, GatherPlan, plan_for, tenant_for, writes_back
from flows.budget import BudgetGate
from flows.context import Context
from flows.gather import gatherer_for, search_query
from flows.items import Outcome, Received
from flows.masking import mask_event, redactor_for
from flows.process import Gather, Services, process_event
from flows.synthesis import Synthesis, Synthesizer
from flows.synthesis.choose import llm_route
from flows.synthesis.instructions import Messages
from flows.triage_step import Triage
from flows.writeback import marker, render_note_html
from itsm.base import ItsmClient
from warehouse import agent_runs
from warehouse.agent_runs import RunRecord
from warehouse.db import Database
from warehouse.enhancements import Prior
from warehouse.tenants import TenantConfig, get_tenant

log = logging.getLogger(__name__)

T = TypeVar("T")

_SOURCES = ("similar_tickets", "kb_articles", "inventory", "monitoring")
_ERROR_CHARS = 2_000
# process_event's timed stages, by the name the trace gives them.
_TIMED = {"synthesize": "model"}
_NEVER_POSTS = "nothing: a sandbox run never calls the ticketing system"


class UnknownTenantError(LookupError):
    pass


@dataclass(frozen=True)
class Parts:
    """The flow's stages that reach outside: gathering and the model."""

    gather: Gather
    synthesizer: Callable[[TenantConfig, Messages], Synthesizer]


class _Recorder:
    """The tracer: what each stage reported, in order."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, Any]] = {}

    def __call__(self, stage: str, **facts: Any) -> None:
        self.facts[stage] = facts


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


def _no_itsm(_tenant: TenantConfig) -> ItsmClient:
    raise PermanentError("a sandbox run never calls the ticketing system")


def _once(fn: Callable[[], T]) -> T:
    return fn()


def _stage(name: str, ms: float, input: Any, output: Any, status: str = "ok") -> dict[str, Any]:
    return {"name": name, "status": status, "ms": ms, "input": input, "output": output}


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
    return _stage(
        name, context.timings_ms.get(name, 0.0), given, output, context.sources.get(name, "ok")
    )


def _attempts(records: list[dict[str, Any]], synthesis: Synthesis | None) -> list[dict[str, Any]]:
    rows = [
        {**r, "answer": synthesis.text}
        if synthesis is not None and r["outcome"] == "succeeded"
        else dict(r)
        for r in records
    ]
    if not rows and synthesis is not None:  # the offline synthesizer asks no model
        rows.append({"model": None, "outcome": "offline", "answer": synthesis.text})
    return rows


@dataclass
class _Run:
    """What one run needs to turn the recorder's facts into the trace."""

    settings: Settings
    tenant: TenantConfig
    spec: AgentSpec
    applies: bool
    facts: dict[str, dict[str, Any]]
    timings: dict[str, float]

    def ms(self, name: str) -> float:
        return self.timings.get(name, 0.0)

    def stages(self) -> list[dict[str, Any]]:
        trace: list[dict[str, Any]] = []
        f = self.facts
        tenant_ms = self.ms("tenant")
        if "mask" in f:
            event: Event = f["mask"]["event"]
            trace.append(
                _stage(
                    "mask",
                    round(tenant_ms + self.ms("mask"), 2),
                    {"mask_personal_data": self.tenant.mask_personal_data},
                    event.ticket.model_dump(mode="json"),
                )
            )
        if "agent" in f:
            choice: Choice = f["agent"]["choice"]
            trace.append(
                _stage(
                    "agent",
                    self.ms("agent"),
                    {"applies_to": self.spec.applies_to.model_dump()},
                    {
                        "agent_id": choice.agent_id,
                        "version": choice.version,
                        "applies": self.applies,
                        "why": choice.reason,
                    },
                )
            )
        if "begin" in f:
            prior: Prior | None = f["begin"]["prior"]
            trace.append(
                _stage(
                    "begin",
                    self.ms("begin"),
                    {"event_id": event.event_id},
                    {
                        "prior_status": prior.status if prior else None,
                        "history_row": "rolled back: a sandbox run keeps no history row",
                    },
                )
            )
        if "noise" in f:
            noise = f["noise"]["noise"]
            trace.append(
                _stage(
                    "noise",
                    0.0,
                    {"subject": event.ticket.subject},
                    noise.as_dict() if noise is not None else {"noise": False},
                    f"skipped: {noise.reason}" if noise is not None else "ok",
                )
            )
        if "gather" in f:
            context: Context = f["gather"]["context"]
            plan = plan_for(choice.spec)
            trace.append(
                _stage("gather", self.ms("gather"), asdict(plan), {"sources": context.sources})
            )
            trace += [_source_stage(name, event, plan, context) for name in _SOURCES]
        if "triage" in f:
            triage: Triage = f["triage"]["triage"]
            trace.append(
                _stage(
                    "triage",
                    self.ms("triage"),
                    {"incident_window_minutes": self.settings.incident_window_minutes},
                    triage.as_dict(),
                )
            )
            trace.append(
                _stage(
                    "prompt",
                    0.0,
                    {"instructions": self.spec.instructions, "note": self.spec.note.model_dump()},
                    {"messages": prompt_of(choice)(event, context)},
                )
            )
        if "synthesize" in f or ("failed" in f and "triage" in f):
            trace.append(self._model_stage())
        if "note" in f:
            text: str = f["note"]["text"]
            trace.append(
                _stage(
                    "write_back",
                    0.0,
                    {
                        "mode": self.spec.write_back,
                        "posts_in_production": writes_back(self.spec, self.tenant),
                        "fields": triage.policy.write_fields,
                    },
                    _NEVER_POSTS,
                    "skipped",
                )
            )
            html = render_note_html(text, marker(event.event_id))
            trace.append(
                _stage(
                    "note",
                    0.0,
                    {"max_chars": self.spec.note.max_chars},
                    {"note": text, "html": html, "chars": len(text)},
                )
            )
        if "failed" in f:
            self._mark_failed(trace, f["failed"]["error"])
        return trace

    def _model_stage(self) -> dict[str, Any]:
        route = llm_route(tenant_for(self.spec, self.tenant), self.settings)
        chain = list(route.models) if route is not None else ["offline"]
        done = self.facts.get("synthesize")
        synthesis: Synthesis | None = done["synthesis"] if done else None
        records = (done or self.facts["failed"])["attempts"]
        output: dict[str, Any] = {"attempts": _attempts(records, synthesis)}
        if synthesis is not None:
            output |= {
                "prompt_tokens": synthesis.prompt_tokens,
                "completion_tokens": synthesis.completion_tokens,
                "cost_usd": synthesis.cost_usd,
            }
        return _stage("model", self.ms("synthesize"), {"chain": chain}, output)

    def _mark_failed(self, trace: list[dict[str, Any]], error: BaseException) -> None:
        """The stage that raised: the last one timed, which the trace may not list yet, or
        recording the outcome once the note was made."""
        timed = [n for n in self.timings if n != "total"]
        if "note" in self.facts:
            failed = "finish"
        else:
            failed = _TIMED.get(timed[-1], timed[-1]) if timed else "tenant"
        status = f"failed: {_reason(error)}"
        for stage in trace:
            if stage["name"] == failed:
                stage["status"] = status
                return
        ms = self.ms(timed[-1]) if timed and failed != "finish" else 0.0
        trace.append(_stage(failed, ms, None, None, status))


def _status(outcome: Outcome, facts: dict[str, dict[str, Any]]) -> str:
    if outcome.status in ("succeeded", "stored"):
        return "succeeded"
    if outcome.status == "skipped" and "noise" in facts:
        return "skipped"
    return "failed"


def trace_run(
    db: Database,
    parts: Parts,
    settings: Settings,
    tenant: TenantConfig,
    event: Event,
    spec: AgentSpec,
    *,
    agent_id: str,
    version: int,
    kind: str,
    run_id: str | None = None,
    case_id: int | None = None,
    live_event_id: str | None = None,
    expectations: list[Expectation] | None = None,
) -> RunRecord:
    """Runs `spec` on the event through process_event; never raises (a failure is in the
    record). A shadow run (`kind` "shadow") runs only on tickets the version's rules take."""
    record = RunRecord(
        run_id=run_id or uuid.uuid4().hex,
        agent_id=agent_id,
        version=version,
        kind=kind,
        ticket_id=event.ticket.id,
        status="failed",
        ms=0.0,
        case_id=case_id,
        event_id=live_event_id,
    )
    # Decided once, on the ticket production's chooser sees (flows.process masks before it
    # chooses, and a pasted ticket is not masked yet); the trace shows this Choice.
    chosen_on = mask_event(event, redactor_for(tenant, event)).ticket
    selected, why = applies(spec.applies_to, chosen_on)
    if kind == "shadow" and not selected:
        record.status = "not_applicable"
        record.stages = [
            _stage(
                "agent",
                0.0,
                {"applies_to": spec.applies_to.model_dump()},
                {"applies": False, "why": why},
                "not_applicable",
            )
        ]
        return record
    # The run's own event id: a live event's id already has its production history row.
    event = event.model_copy(update={"event_id": f"{kind}-{record.run_id}"})
    choice = Choice(agent_id, version, spec.model_copy(update={"write_back": "shadow"}), why)
    recorder = _Recorder()
    services = Services(
        db=db.rolled_back(),
        tenant=lambda _tenant_id: tenant,
        gather=parts.gather,
        synthesizer=parts.synthesizer,
        itsm=_no_itsm,
        retry=_once,
        agent=lambda _tenant_id, _ticket: choice,
        shadows=lambda _tenant, _event, _choice: None,
        note_footer=lambda _event: "",
        incident_window=timedelta(minutes=settings.incident_window_minutes),
        trace=recorder,
    )
    received = Received(stream=f"sandbox:{kind}", entry_id="0-0", event=event)
    outcome = process_event(received, services)
    timings = dict(outcome.timings or {})
    run = _Run(settings, tenant, spec, selected, recorder.facts, timings)
    record.stages = run.stages()
    record.ms = timings.get("total", 0.0)
    record.status = _status(outcome, recorder.facts)
    if outcome.error:
        record.error = outcome.error
    done = recorder.facts.get("synthesize")
    if done is not None:
        synthesis: Synthesis = done["synthesis"]
        record.synthesizer = synthesis.synthesizer
        record.model = synthesis.model
        record.prompt_tokens = synthesis.prompt_tokens
        record.completion_tokens = synthesis.completion_tokens
        record.cost_usd = synthesis.cost_usd
    if "note" in recorder.facts and record.status == "succeeded":
        record.note = recorder.facts["note"]["text"]
    if expectations is not None:
        masked = recorder.facts.get("mask", {}).get("event", event)
        facts = RunFacts(record.status, record.note or "", masked.ticket.category)
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
    """The sandbox worker's (and the CLI's) runner: its own indexes, HTTP client and
    threads, built on first use."""

    def __init__(self, db: Database, settings: Settings, box: SecretBox) -> None:
        self._db = db
        self._settings = settings
        self._box = box
        self._lock = threading.Lock()
        self._parts: Parts | None = None
        self._closers: list[Callable[[], None]] = []

    def _build(self) -> Parts:
        settings, db = self._settings, self._db
        http = httpx.Client(timeout=settings.gather_timeout_seconds, cookies=no_cookies())
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
        run_id: str | None = None,
        case_id: int | None = None,
        expectations: list[Expectation] | None = None,
    ) -> RunRecord:
        tenant = get_tenant(self._db, self._box, tenant_id)
        if tenant is None:
            raise UnknownTenantError(f"no tenant {tenant_id!r}")
        record = trace_run(
            self._db,
            self.parts(),
            self._settings,
            tenant,
            sandbox_event(tenant, ticket, kind),
            spec,
            agent_id=agent_id,
            version=version,
            kind=kind,
            run_id=run_id,
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
