"""`aiops history`: import resolved tickets; show what the enhancement flow did."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from cli import importer_command, importing
from cli.console import fail, heading, print_table, table
from cli.runtime import connect, load_settings
from warehouse import enhancements, tenants

app = typer.Typer(
    help="Resolved-ticket history (what similar-ticket search draws on) and enhancement results.",
    no_args_is_help=True,
)


class Status(StrEnum):
    """What enhancement_history records of an event's outcome."""

    SUCCEEDED = "succeeded"
    STORED = "stored"
    FAILED = "failed"
    SKIPPED = "skipped"


@app.command("import")
def import_(
    file: importer_command.FileArg,
    tenant: importer_command.TenantOpt,
    batch_size: importer_command.BatchOpt = 500,
) -> None:
    """Import resolved tickets from CSV or JSON lines; re-importing updates them in place.

    Columns are recognised by common names (case and punctuation ignored):
    id / ticket_id / Issue key / Issue id / Request ID; subject / Summary / title;
    description; resolution / solution; category / Issue Type; priority; status; tags /
    labels; created / Created Time; resolved / closed. Other columns are kept as extra
    fields. A Jira CSV export works as it is.
    """
    importer_command.run(file, tenant, importing.TICKETS, batch_size)


def _took(timings_ms: dict[str, Any]) -> str:
    """The flow records each stage's time in milliseconds (flows.process.Stages)."""
    if not timings_ms:
        return ""
    total = timings_ms.get(
        "total", sum(v for v in timings_ms.values() if isinstance(v, int | float))
    )
    return f"{total / 1000:.2f}s"


def _when(row: dict[str, Any]) -> str:
    moment = row["finished_at"] or row["started_at"] or row["created_at"]
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


def _show_one(row: dict[str, Any]) -> None:
    heading(f"Event {row['event_id']} (ticket {row['ticket_id']}, {row['kind']})")
    fields = [
        ("status", row["status"]),
        ("no note", row.get("skip_reason")),  # noise
        ("attempts", row["attempts"]),
        ("source", row["source"] + (" (backfill)" if row["backfill"] else "")),
        ("synthesizer", row["synthesizer"]),
        ("model", row["model"]),
        ("note", row["note_id"] or "not posted"),
        ("received", row["received_at"]),
        ("finished", row["finished_at"]),
        ("timings ms", json.dumps(row["timings"]) if row["timings"] else None),
        ("tokens", _tokens(row)),
        ("cost", f"${row['cost_usd']}" if row["cost_usd"] is not None else None),
        ("context", ", ".join(f"{k}: {_size(v)}" for k, v in row["context"].items())),
        ("error", f"{row['error_kind'] or 'error'}: {row['error']}" if row["error"] else None),
    ]
    for label, value in fields:
        if value not in (None, ""):
            typer.echo(f"  {label:<12} {value}")
    typer.echo("")
    heading("Note")
    typer.echo(row["output"] or "(no output yet)")


def _tokens(row: dict[str, Any]) -> str | None:
    if row["prompt_tokens"] is None:
        return None
    return f"{row['prompt_tokens']} in / {row['completion_tokens']} out"


def _size(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} items"
    if isinstance(value, dict):
        return f"{len(value)} fields"
    return str(value)


@app.command("show")
def show(
    tenant: Annotated[str, typer.Option("--tenant", help="Whose enhancements to show.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    ticket: Annotated[str | None, typer.Option(help="Only this ticket's events.")] = None,
    status: Annotated[Status | None, typer.Option(help="Only events with this outcome.")] = None,
    event: Annotated[
        str | None, typer.Option(help="Show one event in full, with the note it produced.")
    ] = None,
) -> None:
    """Show recent enhancements (status, timings, errors), or one event in detail."""
    with connect(load_settings()) as rt:
        if tenants.tenant_summary(rt.db, tenant) is None:
            fail(f"tenant {tenant!r} does not exist; see `aiops tenants list`")
        with rt.db.tenant(tenant) as conn:
            if event is not None:
                row = enhancements.get(conn, event)
                rows = []
            else:
                row = None
                rows = enhancements.recent(
                    conn, limit=limit, ticket_id=ticket, status=status.value if status else None
                )
    if event is not None:
        if row is None:
            fail(f"tenant {tenant!r} has no event {event!r}; list them with `aiops history show`")
        _show_one(row)
        return
    if not rows:
        typer.echo(f"No enhancements for {tenant} yet; they appear once webhooks arrive.")
        return
    shown = table(
        "when",
        "event",
        "ticket",
        "status",
        "synthesizer",
        "note",
        "took",
        "error",
        whole=("event", "ticket"),
    )
    for r in rows:
        shown.add_row(
            _when(r),
            r["event_id"],
            r["ticket_id"],
            r["status"],
            r["synthesizer"] or "",
            r["note_id"] or "",
            _took(r["timings"]),
            r["error"] or (f"no note: {r['skip_reason']}" if r.get("skip_reason") else ""),
        )
    print_table(shown)
    typer.echo("Details of one: aiops history show --tenant TENANT --event EVENT_ID")
