"""PostgreSQL -> Parquet, one file per (table, tenant, UTC month), written with Polars.

Rows leave PostgreSQL through `COPY ... TO STDOUT (FORMAT csv)` of the raw columns,
parsed by Polars: one query per tenant and run of consecutive days of one month, not one
per partition. PostgreSQL does no per-row JSON work (the context's sources go out as their
JSON text and are decoded once per distinct value), and rows come in day order from the
(tenant, day) index. Tenants are read several at once, one per connection, so the server
renders one tenant's rows while this process parses and writes another's.

Each tenant is read in its own transaction scoped by `Database.tenant`, so PostgreSQL's
row-level security, not this module, decides which rows come back; a frame that still
held another tenant's row would be refused before anything is written.

The partition is the day. Exporting days writes their rows as one new part of their
month and drops them from the part that held them before, so the other days' rows are
kept as they were, and the month changes atomically (see months). The prompt and the
full context stay in PostgreSQL; the warehouse keeps what analysis needs, with the
context reduced to which sources contributed.
"""

from __future__ import annotations

import io
import itertools
import json
import select
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import pq, sql

from warehouse.analytics import months
from warehouse.analytics.layout import (
    Part,
    day_bounds,
    days_metadata,
    month_dir,
    month_of,
)
from warehouse.db import Database, TenantConnection

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
    "skip_reason": pl.String,
    "context_sources": pl.List(SOURCE_OUTCOME),
    "timings": pl.String,
    "prompt_tokens": pl.Int32,
    "completion_tokens": pl.Int32,
    "cost_usd": pl.Decimal(12, 6),
    "processing_seconds": pl.Float64,
    "agent_id": pl.String,
    "agent_version": pl.Int32,
    "total_ms": pl.Float64,
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
DAY_EXPR = {ENHANCEMENTS: "created_at", TICKETS: TICKET_DAY}

# The flow records context["sources"] as {name: "ok" | "empty" | "failed: why"}; it leaves
# PostgreSQL as JSON text ('null' when absent) and source_outcomes_json keeps the kind.
_CONTEXT_SOURCES = "coalesce((context -> 'sources')::text, 'null')"


def _epoch(schema: dict[str, Any]) -> dict[str, str]:
    """Timestamps leave as float8 seconds since 1970 rather than text: cheaper for the
    server to render and for Polars to read. It is exact: µs / 1e6 is correctly rounded
    to a double whose spacing (2.4e-7 s before 2038, 4.8e-7 s before 2106) is under half
    a microsecond, so rounding seconds x 1e6 gives the microseconds back."""
    return {
        name: f"date_part('epoch', {name})"
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Datetime)
    }


# Column expressions in schema order; PostgreSQL renders them as CSV text, Polars parses.
_SELECTS: dict[str, dict[str, str]] = {
    ENHANCEMENTS: {
        **{name: name for name in ENHANCEMENT_SCHEMA},
        **_epoch(ENHANCEMENT_SCHEMA),
        "day": "(created_at AT TIME ZONE 'UTC')::date",
        "context_sources": _CONTEXT_SOURCES,
        "timings": "timings::text",
        "processing_seconds": "extract(epoch FROM finished_at - started_at)::float8",
        # The flow's own measure of an event, start to note, in milliseconds.
        "total_ms": "(timings ->> 'total')::float8",
    },
    TICKETS: {
        **{name: name for name in TICKET_SCHEMA},
        **_epoch(TICKET_SCHEMA),
        "day": f"({TICKET_DAY} AT TIME ZONE 'UTC')::date",
        "tags": "array_to_json(tags)::text",
    },
}

# Tenants exported at once, each on its own connection: the server renders one tenant's
# rows while this process parses and writes another's (Polars and libpq waits release
# the GIL).
EXPORT_WORKERS = 2
# Parts written at once.
WRITERS = 2


# How every Parquet file of the warehouse is written.
PARQUET: dict[str, Any] = {"compression": "zstd", "statistics": True}


class CrossTenantRowError(RuntimeError):
    """A frame read under one tenant's context held another tenant's row."""


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int


class _Number(str):
    """A JSON number as PostgreSQL spelled it (jsonb_each_text returns that spelling)."""


def _json_text(value: object) -> str:
    """`value` as jsonb's text output writes it: ", " and ": " separators, keys in the
    order given, non-ASCII characters as they are."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}: {_json_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _outcome(value: object) -> str | None:
    """The kind of one source's outcome: the text before the first colon, trimmed, as
    PostgreSQL's jsonb_each_text + split_part would read it."""
    if value is None:
        return None
    plain = isinstance(value, str) and not isinstance(value, _Number)
    text = str(value) if plain else _json_text(value)
    return text.split(":", 1)[0].strip(" \t\r\n")


def source_outcomes(context: dict[str, Any]) -> list[dict[str, str | None]]:
    """The kind of each source's outcome, sorted by source name."""
    sources = context.get("sources")
    if not isinstance(sources, dict):
        return []
    return [{"source": name, "outcome": _outcome(sources[name])} for name in sorted(sources)]


def source_outcomes_json(text: str) -> list[dict[str, str | None]]:
    """source_outcomes of a context whose "sources" value is the JSON `text`."""
    # Numbers keep their literal text, as jsonb_each_text renders them.
    return source_outcomes({"sources": json.loads(text, parse_float=_Number, parse_int=_Number)})


# The tenant whose context read a row, sent beside it: rows of several tenants are parsed
# together, and each must still be proven to be its reader's.
READ_UNDER = "read_under"


def _copy_sql(table: str) -> str:
    columns = ", ".join(f"{expr} AS {name}" for name, expr in _SELECTS[table].items())
    day = DAY_EXPR[table]
    # Day order is the (tenant, day) index's order; id makes each file's order stable, and
    # a part is written in the order its rows arrive.
    return (
        f"COPY (SELECT {columns}, {{reader}} AS {READ_UNDER} FROM {table} "
        f"WHERE {day} >= {{start}} AND {day} < {{end}} ORDER BY {day}, id) "
        "TO STDOUT (FORMAT csv)"
    )


def _decode_sources(raw: pl.DataFrame) -> pl.DataFrame:
    """Replaces the JSON text of context_sources by its decoded list, decoding each
    distinct text once: a day's rows share a handful of them."""
    distinct = raw["context_sources"].unique().to_list()
    decoded = pl.DataFrame(
        {
            "context_sources": distinct,
            "decoded": pl.Series(
                [source_outcomes_json(text) for text in distinct], dtype=pl.List(SOURCE_OUTCOME)
            ),
        },
        schema={"context_sources": pl.String, "decoded": pl.List(SOURCE_OUTCOME)},
    )
    return (
        raw.join(decoded, on="context_sources", how="left", maintain_order="left")
        .drop("context_sources")
        .rename({"decoded": "context_sources"})
    )


def _parse(table: str, data: bytes) -> pl.DataFrame:
    """The rows of one or more COPYs, with the tenant that read each (READ_UNDER)."""
    schema = {**SCHEMAS[table], READ_UNDER: pl.String}
    if not data:
        return pl.DataFrame(schema=schema)
    # Everything not plainly numeric is read as text, then converted with explicit rules.
    raw = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        new_columns=list(schema),
        schema_overrides={
            name: pl.Float64
            if isinstance(dtype, pl.Datetime)
            else dtype
            if dtype in (pl.Int64, pl.Int32, pl.Float64)
            else pl.String
            for name, dtype in schema.items()
        },
    )
    if table == ENHANCEMENTS:
        raw = _decode_sources(raw)
    converted = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype in (pl.Int64, pl.Int32, pl.Float64, pl.String) or name == "context_sources":
            converted.append(column)
        elif dtype == pl.Boolean:
            converted.append(column == "t")
        elif dtype == pl.Date:
            converted.append(column.str.to_date("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            micros = (column * 1_000_000).round().cast(pl.Int64)
            converted.append(pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC"))
        elif isinstance(dtype, pl.Decimal):
            converted.append(column.cast(dtype))
        else:
            converted.append(column.str.json_decode(dtype))
    return raw.select(converted).cast(schema)  # type: ignore[arg-type]


def read_days(conn: TenantConnection, table: str, tenant_id: str, start: date, end: date) -> bytes:
    """CSV of the rows of `table` whose day falls in `start`..`end` inclusive, for the
    connection's tenant (RLS), in one COPY; `tenant_id` is what the connection is
    scoped to, sent beside each row."""
    lower, _ = day_bounds(start)
    _, upper = day_bounds(end)
    # Days as UTC dates, whatever the role's or the server's default time zone.
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    statement = sql.SQL(_copy_sql(table)).format(
        reader=sql.Literal(tenant_id), start=sql.Literal(lower), end=sql.Literal(upper)
    )
    return copy_out(conn, statement.as_bytes(conn))


def copy_out(conn: TenantConnection, statement: bytes) -> bytes:
    """Everything a `COPY ... TO STDOUT` sends, in the connection's open transaction.

    libpq hands over one row per call; psycopg's Copy iterator wraps each call in a
    Python generator and a wait loop, which cost more CPU than parsing the rows. Here each
    row is one non-blocking libpq call, and the wait for more data is a select(), which
    lets the other export thread run (libpq's blocking calls keep the GIL)."""
    pgconn = conn.pgconn
    pgconn.send_query(statement)
    started = _next_result(pgconn)
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _drain(pgconn)
        if started is not None and started.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(started)
        raise psycopg.ProgrammingError(f"not a COPY TO STDOUT statement: {statement[:80]!r}")
    chunks = []
    while True:
        size, data = pgconn.get_copy_data(1)
        if size > 0:
            chunks.append(bytes(data))
        elif size == 0:
            _wait_readable(pgconn)
        else:
            break
    finished = _next_result(pgconn)
    _drain(pgconn)
    if size == -2 or finished is None or finished.status != pq.ExecStatus.COMMAND_OK:
        if finished is not None and finished.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(finished)
        raise psycopg.OperationalError(f"COPY failed: {pgconn.get_error_message()!r}")
    return b"".join(chunks)


def _wait_readable(pgconn: pq.abc.PGconn) -> None:
    select.select([pgconn.socket], [], [])
    pgconn.consume_input()


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    pgconn.consume_input()
    while pgconn.is_busy():
        _wait_readable(pgconn)
    return pgconn.get_result()


def _drain(pgconn: pq.abc.PGconn) -> None:
    """Reads the results left of a statement, so the connection is ready for the next."""
    while _next_result(pgconn) is not None:
        pass


def _day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days within one month."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1) and day.day != 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _refuse_strangers(frame: pl.DataFrame) -> None:
    strangers = frame.filter(pl.col("tenant_id") != pl.col(READ_UNDER))
    if strangers.height:
        reader = strangers[READ_UNDER][0]
        raise CrossTenantRowError(
            f"{strangers.height} rows of another tenant came back under {reader!r}'s "
            "context: the role bypasses row-level security; nothing was written"
        )


def _last_day_of_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _without(part: Part, days: set[date]) -> pl.DataFrame:
    return pl.read_parquet(part.path).filter(~pl.col("day").is_in(sorted(days)))


def _write_month(
    frame: pl.DataFrame, root: Path, table: str, tenant_id: str, days: Sequence[date]
) -> Path:
    """Writes `frame`, the tenant's rows of `days` (all of one month) in day order, as a
    new part of the month; a part that held any of those days is rewritten without them.
    Once the month's last day is covered, the month is folded into one part. Returns the
    new part."""
    wanted = set(days)
    with months.rewriting(root, table, tenant_id, days[0]) as draft:
        frames, covered, others, holding = [frame], set(wanted), [], []
        for part in draft.current:
            if not part.days & wanted:
                others.append(part)
            else:
                holding.append(part)
                if part.days - wanted:
                    frames.append(_without(part, wanted))
                    covered |= part.days - wanted
        if others and _last_day_of_month(days[0]) in covered.union(*(p.days for p in others)):
            frames.extend(pl.read_parquet(part.path) for part in others)
            covered = covered.union(*(p.days for p in others))
            others = []
        for part in others:
            draft.keep(part)
        if len(frames) > 1:
            merged = pl.concat(frames, how="diagonal_relaxed").select(list(SCHEMAS[table]))
            frame = merged.sort("day", "id")
        # A re-run of the days of one part rewrites that part.
        same = holding[0] if len(holding) == 1 and holding[0].days == covered else None
        target = draft.new_part(covered, instead_of=same)
        frame.write_parquet(target, **PARQUET, metadata=days_metadata(covered))
    return draft.published(target)


def drop_days(root: Path, table: str, tenant_id: str, days: Iterable[date]) -> None:
    """Removes the tenant's exported rows of `days` (retention): a month left with no
    covered day goes with its folder."""
    by_month: dict[date, set[date]] = {}
    for day in days:
        by_month.setdefault(month_of(day), set()).add(day)
    for month, doomed in by_month.items():
        if not month_dir(root, table, tenant_id, month).is_dir():
            continue
        with months.rewriting(root, table, tenant_id, month) as draft:
            for part in draft.current:
                left = part.days - doomed
                if left == part.days:
                    draft.keep(part)
                elif left:
                    target = draft.new_part(left)
                    _without(part, doomed).write_parquet(
                        target, **PARQUET, metadata=days_metadata(left)
                    )


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class _Month:
    """One tenant's rows of the wanted days of one month, as read (CSV)."""

    tenant_id: str
    days: list[date]
    data: bytes


def _months(days: Iterable[date]) -> list[tuple[list[tuple[date, date]], list[date]]]:
    """Per month of `days`: its runs of consecutive days, and every day of those runs."""
    by_month: dict[date, list[tuple[date, date]]] = {}
    for run in _day_runs(days):
        by_month.setdefault(month_of(run[0]), []).append(run)
    return [
        (runs, [d for first, last in runs for d in _days_between(first, last)])
        for runs in by_month.values()
    ]


def _read_tenant(
    conn: TenantConnection, table: str, tenant_id: str, days: Iterable[date]
) -> list[_Month]:
    months_read = []
    for runs, span in _months(days):
        data = b"".join(read_days(conn, table, tenant_id, first, last) for first, last in runs)
        months_read.append(_Month(tenant_id, span, data))
    return months_read


def _write_batch(root: Path, table: str, batch: list[_Month]) -> dict[str, dict[date, Exported]]:
    """Parses a batch of tenants' months at once (a parse costs a fixed few ms, which per
    tenant made a day's run grow with tenants) and writes each month's part."""
    frame = _parse(table, b"".join(m.data for m in batch))
    _refuse_strangers(frame)
    counts = {
        (tenant_id, day): n
        for tenant_id, day, n in frame.group_by(READ_UNDER, "day").len().iter_rows()
    }
    by_tenant = frame.partition_by(READ_UNDER, as_dict=True, include_key=False)
    empty = frame.clear().drop(READ_UNDER)
    months_of = Counter(m.tenant_id for m in batch)

    def write(month: _Month) -> Path:
        rows = by_tenant.get((month.tenant_id,), empty)
        if months_of[month.tenant_id] > 1:
            rows = rows.filter(pl.col("day").is_between(month.days[0], month.days[-1]))
        return _write_month(rows, root, table, month.tenant_id, month.days)

    written: dict[str, dict[date, Exported]] = {}
    # Polars writes and the file system calls release the GIL: two parts at a time.
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="export-write") as pool:
        for month, path in zip(batch, pool.map(write, batch), strict=True):
            written.setdefault(month.tenant_id, {}).update(
                {d: Exported(path, int(counts.get((month.tenant_id, d), 0))) for d in month.days}
            )
    return written


def export_tenant_days(
    conn: TenantConnection, root: Path, table: str, tenant_id: str, days: Iterable[date]
) -> dict[date, Exported]:
    """Writes the days (empty days too) into their months' parts; `conn` must be scoped
    to the tenant."""
    batch = _read_tenant(conn, table, tenant_id, days)
    return _write_batch(root, table, batch).get(tenant_id, {}) if batch else {}


def export_partition(
    conn: TenantConnection, root: Path, table: str, tenant_id: str, day: date
) -> Exported:
    """Writes the tenant's rows of `table` for `day`; `conn` must be scoped to the tenant."""
    return export_tenant_days(conn, root, table, tenant_id, [day])[day]


@dataclass(frozen=True)
class TenantExport:
    tenant_id: str
    partitions: dict[date, Exported]

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.partitions.values())


# CSV held before it is parsed and written: tenants are batched up to this size, small
# enough that the next tenants are read while a batch is written.
BATCH_BYTES = 8 * 1024 * 1024


def export_days(
    db: Database,
    root: Path,
    table: str,
    tenant_ids: Sequence[str],
    days: Iterable[date],
    on_tenant: Callable[[int, TenantExport], None] | None = None,
    workers: int = EXPORT_WORKERS,
) -> list[TenantExport]:
    """Every listed tenant's partitions of `days`: per tenant one transaction under its
    own RLS context, per run of consecutive days one COPY, `workers` tenants at a time
    (the pool must allow as many connections); the rows are parsed and written a batch
    of tenants at a time. `on_tenant(done, export)` reports progress after each tenant,
    in the order of `tenant_ids`."""
    wanted = sorted(set(days))

    def read(tenant_id: str) -> list[_Month]:
        with db.tenant(tenant_id) as conn:
            return _read_tenant(conn, table, tenant_id, wanted)

    exports: list[TenantExport] = []
    batch: list[_Month] = []
    pending: list[str] = []

    def flush() -> None:
        written = _write_batch(root, table, batch) if batch else {}
        for tenant_id in pending:
            exports.append(TenantExport(tenant_id, written.get(tenant_id, {})))
            if on_tenant is not None:
                on_tenant(len(exports), exports[-1])
        batch.clear()
        pending.clear()

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="export") as pool:
        # A few reads ahead of the writes, not every tenant's rows in memory at once.
        ahead: deque[tuple[str, Future[list[_Month]]]] = deque()
        queue = iter(tenant_ids)
        for tenant_id in itertools.islice(queue, max(1, workers) * 2):
            ahead.append((tenant_id, pool.submit(read, tenant_id)))
        while ahead:
            tenant_id, future = ahead.popleft()
            batch.extend(future.result())
            pending.append(tenant_id)
            following = next(queue, None)
            if following is not None:
                ahead.append((following, pool.submit(read, following)))
            if sum(len(m.data) for m in batch) >= BATCH_BYTES:
                flush()
        flush()
    return exports
