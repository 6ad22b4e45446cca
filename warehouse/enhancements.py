"""enhancement_history: one row per event, keyed by (tenant_id, event_id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from aiops.events import Event
from warehouse import budgets
from warehouse.db import TenantConnection


@dataclass(frozen=True)
class Prior:
    """What an earlier attempt at the same event left behind."""

    status: str
    note_id: str | None
    attempts: int


@dataclass
class Result:
    status: str  # succeeded | stored | failed (skipped: warehouse.triage.record_skipped)
    context: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    output: str | None = None
    synthesizer: str | None = None
    model: str | None = None
    note_id: str | None = None
    note_posted_at: datetime | None = None
    error: str | None = None
    error_kind: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    started_at: datetime | None = None


def begin(
    conn: TenantConnection,
    event: Event,
    *,
    agent: tuple[str, int] | None = None,
    triage: dict[str, Any] | None = None,
) -> Prior | None:
    """Marks the event in progress and returns the previous attempt's state, if any.

    A first attempt's row is written whole, in one statement: `agent` (id, version) that
    produces it and its first `triage` data (the flow's hot path saves the round trips).
    The insert comes first: a first attempt, the common case, then costs one statement,
    and a new attempt finds the row the insert left alone."""
    made = conn.execute(
        """
        INSERT INTO enhancement_history (
            tenant_id, event_id, ticket_id, source, kind, backfill, status, attempts,
            received_at, started_at, ticket, agent_id, agent_version, triage)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s,
                'processing', 1, %s, now(), %s, %s, %s, %s)
        ON CONFLICT (tenant_id, event_id) DO NOTHING
        RETURNING event_id
        """,
        (
            event.event_id,
            event.ticket.id,
            event.source,
            event.kind,
            event.backfill,
            event.received_at,
            Jsonb(event.ticket.model_dump(mode="json")),
            agent[0] if agent else None,
            agent[1] if agent else None,
            Jsonb(triage) if triage is not None else None,
        ),
    ).fetchone()
    if made is not None:
        return None
    # An earlier attempt made the row: this one is a new attempt at it.
    prior = conn.execute(
        "SELECT status, note_id, attempts FROM enhancement_history WHERE event_id = %s FOR UPDATE",
        (event.event_id,),
    ).fetchone()
    assert prior is not None
    conn.execute(
        "UPDATE enhancement_history SET attempts = attempts + 1, backfill = %s, "
        "started_at = now(), updated_at = now() WHERE event_id = %s",
        (event.backfill, event.event_id),
    )
    return Prior(prior["status"], prior["note_id"], prior["attempts"])


def finish(
    conn: TenantConnection,
    event_id: str,
    result: Result,
    triage: dict[str, Any] | None = None,
) -> None:
    """The event's outcome (with its note, and its `triage` data when given: kept as they
    were when not), and what its synthesis cost into the spend ledger. The statements go
    as one pipeline: one round trip."""
    with conn.pipeline():
        budgets.record_spend(conn, event_id, result.cost_usd)
        conn.execute(
            """
            UPDATE enhancement_history SET
                status = %s, context = %s, prompt = %s, output = %s, synthesizer = %s, model = %s,
                note_id = coalesce(%s, note_id),
                note_posted_at = coalesce(%s, note_posted_at),
                error = %s, error_kind = %s, timings = %s,
                prompt_tokens = %s, completion_tokens = %s, cost_usd = %s,
                triage = coalesce(%s, triage),
                finished_at = now(), updated_at = now()
            WHERE event_id = %s
            """,
            (
                result.status,
                Jsonb(result.context),
                result.prompt,
                result.output,
                result.synthesizer,
                result.model,
                result.note_id,
                result.note_posted_at,
                result.error,
                result.error_kind,
                Jsonb(result.timings),
                result.prompt_tokens,
                result.completion_tokens,
                result.cost_usd,
                Jsonb(triage) if triage is not None else None,
                event_id,
            ),
        )


_COLUMNS = (
    "event_id, ticket_id, source, kind, backfill, status, attempts, synthesizer, model, "
    "note_id, note_posted_at, error, error_kind, timings, prompt_tokens, completion_tokens, "
    "cost_usd, received_at, started_at, finished_at, created_at, skip_reason, agent_id, "
    "agent_version"
)


def recent(
    conn: TenantConnection,
    limit: int = 20,
    ticket_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DictRow]:
    """Newest first; each filter left as None matches every row. `since` and `until` bound
    created_at (since inclusive, until exclusive)."""
    return conn.execute(
        f"SELECT {_COLUMNS} FROM enhancement_history "
        "WHERE (%(ticket)s::text IS NULL OR ticket_id = %(ticket)s) "
        "AND (%(status)s::text IS NULL OR status = %(status)s) "
        "AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s) "
        "AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s) "
        "ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"ticket": ticket_id, "status": status, "since": since, "until": until, "limit": limit},
    ).fetchall()


def get(conn: TenantConnection, event_id: str) -> DictRow | None:
    return conn.execute(
        f"SELECT {_COLUMNS}, context, prompt, output, triage FROM enhancement_history "
        "WHERE event_id = %s",
        (event_id,),
    ).fetchone()
