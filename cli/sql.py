"""`aiops sql`: read-only DuckDB SQL over the analytics warehouse."""

from __future__ import annotations

import csv
import json
import sys
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import duckdb
import typer

from cli.console import fail, print_table, table
from cli.runtime import load_settings
from warehouse.analytics.duck import (
    QueryLimits,
    QueryRefusedError,
    QueryResult,
    QueryTimeoutError,
    QueryTooLargeError,
    run_query,
    to_jsonable,
)
from warehouse.analytics.layout import InvalidTenantError


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)  # exact, unlike the JSON number
    jsonable = to_jsonable(value)
    return json.dumps(jsonable) if isinstance(jsonable, list | dict) else str(jsonable)


def _print(result: QueryResult, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        rows = [dict(zip(result.columns, to_jsonable(list(r)), strict=True)) for r in result.rows]
        typer.echo(json.dumps(rows, indent=2))
    elif output is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
    else:
        shown = table(*result.columns)
        for row in result.rows:
            shown.add_row(*(_text(v) for v in row))
        print_table(shown)
        typer.echo(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}")
    if result.truncated:
        typer.secho(f"(first {len(result.rows)} rows shown; raise --max-rows)", err=True)


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT (or DESCRIBE/SHOW/SUMMARIZE).")],
    tenant: Annotated[
        str | None,
        typer.Option(help="See only this tenant's data, whatever the query names."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")
    ] = OutputFormat.table,
    max_rows: Annotated[
        int | None,
        typer.Option(min=1, max=QueryLimits.max_rows, help="Stop after this many rows."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0.1, help="Stop the query after this many seconds.")
    ] = None,
    memory_mb: Annotated[
        int, typer.Option(min=16, help="Memory the query may use before it fails (MB).")
    ] = QueryLimits.memory_mb,
    threads: Annotated[int, typer.Option(min=1, help="Threads the query may use.")] = (
        QueryLimits.threads
    ),
) -> None:
    """Run read-only SQL (DuckDB) over the analytics warehouse.

    Tables: enhancement_history, ticket_history (exported daily by Dagster),
    daily_rollup (volume, success rate, p50/p95 seconds, tokens, cost per tenant and day),
    daily_source_rollup (how often each context source contributed, came back empty
    or failed) and agent_version_daily_rollup (the same per agent version, p50/p95 of
    the flow's total ms). The warehouse is AI_AGENTS_WAREHOUSE_DIR (default: state
    folder/warehouse).
    Example: aiops sql "SELECT day, enhancements, success_rate FROM daily_rollup" --tenant acme
    """
    settings = load_settings()
    try:
        limits = QueryLimits(memory_mb=memory_mb, threads=threads)
        result = run_query(settings.warehouse_path, query, tenant, max_rows, timeout, limits)
    except (QueryRefusedError, QueryTimeoutError, QueryTooLargeError, InvalidTenantError) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"the query failed: {exc}")
    _print(result, output)
