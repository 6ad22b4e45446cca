"""PostgreSQL -> Parquet, one file per (table, tenant, UTC day), written with Polars.

A partition is exported whole and swapped in atomically, so re-running it replaces
exactly that file. The prompt and the full context stay in PostgreSQL; the warehouse
keeps what analysis needs, with the context reduced to which sources contributed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from warehouse.analytics.layout import day_bounds, partition_file, replacing
from warehouse.db import TenantConnection

ENHANCEMENTS = "enhancement_history"
TICKETS = "ticket_history"

SOURCE_OUTCOME = pl.Struct({"source": pl.String, "outcome": pl.String})

ENHANCEMENT_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "tenant_id": pl.String,
    "day": pl.Date,
    "event_id": pl.String,
    "ticket_id": pl.String,
    "source": pl.String,
    "kind": pl.String,
    "backfill": pl.Boolean,
    "status": pl.String,
    "attempts": pl.Int32,
    "synthesizer": pl.String,
    "model": pl.String,
    "note_id": pl.String,
    "note_posted_at": pl.Datetime("us", "UTC"),
    "error_kind": pl.String,
    "error": pl.String,
    "context_sources": pl.List(SOURCE_OUTCOME),
    "timings": pl.String,
    "prompt_tokens": pl.Int32,
    "completion_tokens": pl.Int32,
    "cost_usd": pl.Decimal(12, 6),
    "processing_seconds": pl.Float64,
    "output": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "created_at": pl.Datetime("us", "UTC"),
    "updated_at": pl.Datetime("us", "UTC"),
}

TICKET_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "tenant_id": pl.String,
    "day": pl.Date,
    "ticket_id": pl.String,
    "source": pl.String,
    "subject": pl.String,
    "description": pl.String,
    "resolution": pl.String,
    "category": pl.String,
    "priority": pl.String,
    "status": pl.String,
    "tags": pl.List(pl.String),
    "created_at": pl.Datetime("us", "UTC"),
    "resolved_at": pl.Datetime("us", "UTC"),
    "updated_at": pl.Datetime("us", "UTC"),
}

SCHEMAS: dict[str, dict[str, Any]] = {ENHANCEMENTS: ENHANCEMENT_SCHEMA, TICKETS: TICKET_SCHEMA}

# The day a ticket belongs to; the same expression as the ticket_history_tenant_day index.
TICKET_DAY = "coalesce(created_at, updated_at)"

_ENHANCEMENTS_OF_DAY = """
SELECT id, tenant_id, event_id, ticket_id, source, kind, backfill, status, attempts,
       synthesizer, model, note_id, note_posted_at, error_kind, error, context, timings,
       prompt_tokens, completion_tokens, cost_usd,
       extract(epoch FROM finished_at - started_at)::float8 AS processing_seconds,
       output, received_at, started_at, finished_at, created_at, updated_at
FROM enhancement_history
WHERE created_at >= %s AND created_at < %s
ORDER BY id
"""

_TICKETS_OF_DAY = f"""
SELECT id, tenant_id, ticket_id, source, subject, description, resolution, category,
       priority, status, tags, created_at, resolved_at, updated_at
FROM ticket_history
WHERE {TICKET_DAY} >= %s AND {TICKET_DAY} < %s
ORDER BY id
"""


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int


def source_outcomes(context: dict[str, Any]) -> list[dict[str, str]]:
    """The flow records context["sources"] as {name: "ok" | "empty" | "failed: why"}."""
    sources = context.get("sources") or {}
    return [
        {"source": name, "outcome": str(value).split(":", 1)[0].strip()}
        for name, value in sorted(sources.items())
    ]


def enhancements_frame(conn: TenantConnection, day: date) -> pl.DataFrame:
    rows = conn.execute(_ENHANCEMENTS_OF_DAY, day_bounds(day)).fetchall()
    records = []
    for row in rows:
        record = dict(row)
        record["day"] = day
        record["context_sources"] = source_outcomes(record.pop("context"))
        record["timings"] = json.dumps(record["timings"], sort_keys=True)
        records.append(record)
    return pl.from_dicts(records, schema=ENHANCEMENT_SCHEMA)


def tickets_frame(conn: TenantConnection, day: date) -> pl.DataFrame:
    rows = conn.execute(_TICKETS_OF_DAY, day_bounds(day)).fetchall()
    return pl.from_dicts([{**row, "day": day} for row in rows], schema=TICKET_SCHEMA)


def write_partition(frame: pl.DataFrame, target: Path) -> Exported:
    with replacing(target) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
    return Exported(target, frame.height)


def export_partition(
    conn: TenantConnection, root: Path, table: str, tenant_id: str, day: date
) -> Exported:
    """Writes the tenant's rows of `table` for `day`; `conn` must be scoped to the tenant."""
    frame = _FRAMES[table](conn, day)
    return write_partition(frame, partition_file(root, table, tenant_id, day))


_FRAMES = {ENHANCEMENTS: enhancements_frame, TICKETS: tickets_frame}
