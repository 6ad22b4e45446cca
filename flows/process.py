"""One ticket event, start to finish: the orchestration, with every dependency injected.

tenant config -> noise check -> begin (idempotency, triage's reads) -> gather context ->
triage -> synthesize -> write back (triage fields, then the note) -> finish. An event
already handled is skipped unless it is a backfill; noise (flows.noise) is recorded as
skipped, with no note. Transient failures are retried per stage; what still fails is
recorded as failed and reported in the outcome (the flow dead-letters it). This function
never raises, so one poison event cannot stop the others.

The stages from masking to triage, and the finish, run holding a `busy` slot
(flows.gate): they are CPU and database work. The ITSM read, the LLM call and the
write-back wait on other servers and hold none.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from aiops.errors import PermanentError, TransientError
from aiops.events import Event, Ticket
from aiops.tracing import current_span
from flows.agent_choice import begin_for, plan_of, prompt_of, shaped
from flows.agents import Choice, GatherPlan, tenant_for, writes_back
from flows.context import Context
from flows.extract import Mentions, find_mentions
from flows.incidents import signature
from flows.items import Outcome, OutcomeStatus, Received
from flows.masking import mask_context, mask_event, redactor_for
from flows.noise import Noise, classify
from flows.pointers import read_pointed
from flows.synthesis import Synthesis, Synthesizer
from flows.synthesis.attempts import AttemptLog
from flows.synthesis.instructions import Messages
from flows.transactions import in_tenant
from flows.triage_priors import HistoryPriors
from flows.triage_step import (
    Facts,
    Triage,
    assess,
    read_facts,
    take_model_answer,
    with_section,
)
from flows.triage_step import apply as apply_triage
from flows.writeback import marker, post_once, render_note_html
from itsm.base import ItsmClient
from warehouse import enhancements
from warehouse import triage as triage_store
from warehouse.db import Database, TenantConnection
from warehouse.enhancements import Prior, Result
from warehouse.tenants import TenantConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

DONE = ("succeeded", "stored")
_ERROR_CHARS = 2_000


class Retry(Protocol):
    def __call__(self, fn: Callable[[], T]) -> T: ...


class Gather(Protocol):
    def __call__(
        self,
        event: Event,
        tenant: TenantConfig,
        plan: GatherPlan | None,
        mentions: Mentions | None = None,
    ) -> Context: ...


class Tracer(Protocol):
    """Hears what each stage made, as it ends (the agent sandbox's trace)."""

    def __call__(self, stage: str, **facts: Any) -> None: ...


def untraced(stage: str, **facts: Any) -> None:
    """Production's tracer: a call that does nothing, a fraction of a microsecond per stage."""


@dataclass(frozen=True)
class Services:
    db: Database
    tenant: Callable[[str], TenantConfig | None]
    gather: Gather
    synthesizer: Callable[[TenantConfig, Messages], Synthesizer]
    itsm: Callable[[TenantConfig], ItsmClient]
    retry: Retry
    # The agent version for an event (flows.agents), and what runs its shadow versions.
    agent: Callable[[str, Ticket], Choice]
    shadows: Callable[[TenantConfig, Event, Choice], None]
    note_footer: Callable[[Event], str]
    incident_window: timedelta = timedelta(minutes=15)
    # A slot for the event's CPU-bound stages (flows.gate), taken per tenant.
    busy: Callable[[str], AbstractContextManager[None]] = lambda _tenant: nullcontext()
    triage_priors: HistoryPriors = dataclasses.field(default_factory=HistoryPriors)
    trace: Tracer = untraced


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, PermanentError):
        return "permanent"
    return "internal"


class _Stages:
    """Milliseconds per stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Timed, and a span of the event's trace."""
        started = time.perf_counter()
        try:
            with current_span(f"flow {name}"):
                yield
        finally:
            self.ms[name] = round((time.perf_counter() - started) * 1000, 2)

    def with_total(self) -> dict[str, float]:
        return {**self.ms, "total": round((time.perf_counter() - self._started) * 1000, 2)}


@contextmanager
def _busy(services: Services, tenant_id: str, stages: _Stages, wait: str) -> Iterator[None]:
    """A busy slot (flows.gate) for the block; the wait for it is timed as stage `wait`."""
    with ExitStack() as held:
        with stages.stage(wait):
            held.enter_context(services.busy(tenant_id))
        yield


def _tenant(services: Services, tenant_id: str) -> TenantConfig:
    tenant = services.retry(lambda: services.tenant(tenant_id))
    if tenant is None:
        raise PermanentError(f"unknown tenant {tenant_id!r}")
    return tenant


def _read_pointed(services: Services, tenant: TenantConfig, event: Event) -> Event:
    client = services.itsm(tenant)
    return services.retry(lambda: read_pointed(event, client))


@dataclass(frozen=True)
class _Note:
    """The event's note on the ticket, for the finish transaction to record."""

    note_id: str
    # When this attempt posted (or found) it; None for the note an earlier attempt recorded.
    posted_at: datetime | None


def _write_back(
    services: Services,
    tenant: TenantConfig,
    event: Event,
    text: str,
    prior: Prior | None,
    repost: bool,
) -> _Note:
    """The note, posted at most once. Its id is recorded by the finish transaction, not one
    of its own: should the flow stop in between, the next attempt (which has a prior row,
    so it looks) finds the note by its marker instead of posting another."""
    note_marker = marker(event.event_id, prior.attempts + 1 if repost and prior else None)
    body = render_note_html(text, note_marker, services.note_footer(event))
    known = prior.note_id if prior is not None and not repost else None
    posted_at: datetime | None = None

    def record(_note_id: str) -> None:
        nonlocal posted_at
        posted_at = datetime.now(UTC)

    client = services.itsm(tenant)
    # No prior row: the begin transaction made this event's row, so no attempt before
    # this one posted. A retry of this attempt may follow a post that landed, so it looks.
    tries = 0

    def attempt() -> str:
        nonlocal tries
        tries += 1
        return post_once(
            client,
            event.ticket.id,
            body,
            note_marker,
            known_note_id=known,
            may_exist=prior is not None or tries > 1,
            record=record,
        )

    note_id = services.retry(attempt)
    return _Note(note_id, posted_at)


def _result(status: str, synthesis: Synthesis, context: dict[str, Any]) -> Result:
    return Result(
        status=status,
        context=context,
        prompt=synthesis.prompt,
        output=synthesis.text,
        synthesizer=synthesis.synthesizer,
        model=synthesis.model,
        prompt_tokens=synthesis.prompt_tokens,
        completion_tokens=synthesis.completion_tokens,
        cost_usd=synthesis.cost_usd,
    )


def process_event(received: Received, services: Services) -> Outcome:
    event = received.event
    tid = event.tenant_id
    stages = _Stages()
    begun = False
    context: dict[str, Any] = {}
    synthesis: Synthesis | None = None
    note: _Note | None = None
    llm_attempts = AttemptLog()  # every model asked, over every try
    try:
        with stages.stage("tenant"):
            tenant = _tenant(services, tid)
        if event.fetch:  # the webhook only named the ticket: read it from the ITSM
            with stages.stage("fetch"):
                event = _read_pointed(services, tenant, event)
        arrived = event.ticket  # as the ITSM has it, before masking
        with _busy(services, tid, stages, "wait_busy"):
            # From here on only the masked ticket is used: stored, searched with, prompted
            # with.
            with stages.stage("mask"):
                redactor = redactor_for(tenant, event)
                event = mask_event(event, redactor)
            services.trace("mask", event=event)
            # Chosen once: an event finishes on the version it started with, whatever a
            # deploy does meanwhile.
            with stages.stage("agent"):
                choice = services.agent(tid, event.ticket)
            services.trace("agent", choice=choice)
            # Decided on the ticket as it arrived: masking may hide the sender it looks at.
            noise = classify(arrived)
            mentions = find_mentions(event.ticket.text)
            with stages.stage("begin"):
                prior, choice, facts = services.retry(
                    lambda: in_tenant(
                        services.db, tid, _begin(event, choice, noise, mentions, services)
                    )
                )
            begun = True
            services.trace("begin", prior=prior)
            done = prior is not None and prior.status in DONE
            if done and not event.backfill:
                return Outcome(received, "skipped", prior.note_id if prior else None)
            # A backfill re-enhances a handled event: its history row changes, and its note
            # is posted afresh only when the backfill asks to repost.
            repost = done and event.backfill and event.repost
            services.trace("noise", noise=noise)
            if noise is not None:
                return _skipped(received, services, noise, stages)
            assert facts is not None  # read for every event that goes on to a note
            with stages.stage("gather"):
                found = services.gather(event, tenant, plan_of(choice), mentions)
                gathered = mask_context(found, redactor)
            context = gathered.as_dict()
            services.trace("gather", context=gathered)
            with stages.stage("triage"):
                triage = assess(facts, event, gathered)
            services.trace("triage", triage=triage)
        synthesizer = services.synthesizer(tenant_for(choice.spec, tenant), prompt_of(choice))
        with stages.stage("synthesize"):
            synthesis = services.retry(
                lambda: llm_attempts.run(lambda: synthesizer.synthesize(event, gathered))
            )
        context = llm_attempts.into(context)
        services.trace("synthesize", synthesis=synthesis, attempts=llm_attempts.records)
        # The model's TRIAGE line goes before the version's length limit could cut it.
        answered = take_model_answer(triage, synthesis.text)
        synthesis = shaped(dataclasses.replace(synthesis, text=answered), choice)
        posts = writes_back(choice.spec, tenant)
        if posts:
            # Fields first, so the note can say which it set.
            with stages.stage("set_fields"):
                apply_triage(triage, event, services.itsm(tenant), services.retry)
        note_text = with_section(synthesis.text, triage)
        services.trace("note", text=note_text, posts=posts)
        if posts:
            with stages.stage("write_back"):
                note = _write_back(services, tenant, event, note_text, prior, repost)
        status: OutcomeStatus = "succeeded" if posts else "stored"
        result = _with_note(_result(status, synthesis, context), note)
        result.output = note_text
        result.timings = stages.with_total()
        with _busy(services, tid, stages, "wait_busy_finish"):
            services.retry(
                lambda: in_tenant(services.db, tid, _finish(event.event_id, result, triage))
            )
        if choice.shadows and not event.backfill:
            services.shadows(tenant, event, choice)
        return Outcome(
            received,
            status,
            result.note_id,
            timings=result.timings,
            incident_tickets=triage.incident.tickets if triage.incident else 0,
            fields_written=tuple(triage.written),
        )
    except Exception as exc:
        context = llm_attempts.into(context)
        services.trace("failed", error=exc, attempts=llm_attempts.records)
        return _failed(received, services, exc, stages, begun, context, synthesis, note)


def _begin(
    event: Event, choice: Choice, noise: Noise | None, mentions: Mentions, services: Services
) -> Callable[[TenantConnection], tuple[Prior | None, Choice, Facts | None]]:
    """The begin transaction: the history row (with its version and the ticket's incident
    signature) and, for an event that goes on to a note, what triage reads. One
    transaction, so the hot path pays one round trip per statement and no more."""
    mine = signature(event.ticket.text, mentions) if noise is None else None
    triage = {"signature": mine.as_dict()} if mine is not None else None

    def work(conn: TenantConnection) -> tuple[Prior | None, Choice, Facts | None]:
        prior, chosen = begin_for(conn, event, choice, triage)
        done = prior is not None and prior.status in DONE
        if mine is None or (done and not event.backfill):
            return prior, chosen, None
        if prior is not None:  # a new attempt: begin_for left its triage data as it was
            triage_store.record_signature(conn, event.event_id, mine.as_dict())
        return (
            prior,
            chosen,
            read_facts(conn, event, mine, services.incident_window, services.triage_priors),
        )

    return work


def _with_note(result: Result, note: _Note | None) -> Result:
    if note is not None:
        result.note_id, result.note_posted_at = note.note_id, note.posted_at
    return result


def _finish(event_id: str, result: Result, triage: Triage) -> Callable[[TenantConnection], None]:
    def work(conn: TenantConnection) -> None:
        enhancements.finish(conn, event_id, result, triage.as_dict())

    return work


def _skipped(received: Received, services: Services, noise: Noise, stages: _Stages) -> Outcome:
    event = received.event
    timings = stages.with_total()
    context = {"noise": noise.as_dict()}
    services.retry(
        lambda: in_tenant(
            services.db,
            event.tenant_id,
            lambda conn: triage_store.record_skipped(
                conn, event.event_id, noise.reason, context, timings
            ),
        )
    )
    log.info(
        "tenant %s ticket %s: no note, %s (%s)",
        event.tenant_id,
        event.ticket.id,
        noise.reason,
        noise.evidence,
    )
    return Outcome(received, "skipped", timings=timings, skip_reason=noise.reason)


def _failed(
    received: Received,
    services: Services,
    exc: Exception,
    stages: _Stages,
    begun: bool,
    context: dict[str, Any],
    synthesis: Synthesis | None,
    note: _Note | None,
) -> Outcome:
    event = received.event
    kind = error_kind(exc)
    error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
    log_at = log.error if kind == "internal" else log.warning
    log_at(
        "tenant %s event %s failed (%s): %s",
        event.tenant_id,
        event.event_id,
        kind,
        error,
        exc_info=kind == "internal",
    )
    timings = stages.with_total()
    if begun:
        result = _with_note(
            _result("failed", synthesis, context)
            if synthesis is not None
            else Result(status="failed", context=context),
            note,
        )
        result.error, result.error_kind, result.timings = error, kind, timings
        try:
            services.retry(
                lambda: in_tenant(
                    services.db,
                    event.tenant_id,
                    lambda conn: enhancements.finish(conn, event.event_id, result),
                )
            )
        except Exception as record_exc:
            log.error("event %s: could not record the failure: %s", event.event_id, record_exc)
    return Outcome(received, "failed", error=error, error_kind=kind, timings=timings)
