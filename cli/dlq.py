"""`aiops dlq`: events the flow could not handle, and sending them through again."""

from __future__ import annotations

from typing import Annotated

import typer

from aiops import dead_letters
from cli.console import fail, print_table, table
from cli.runtime import connect, load_settings

app = typer.Typer(
    help="Dead letters: events the flow gave up on (bad data, permanent errors).",
    no_args_is_help=True,
)

_ERROR_KEYS = ("error", "reason", "message")
_KIND_KEYS = ("error_kind", "kind", "error_type")


def _first(fields: dict[str, str], keys: tuple[str, ...]) -> str:
    return next((fields[k] for k in keys if fields.get(k)), "")


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, oldest first.")] = 50,
) -> None:
    """Show dead letters: entry id, tenant, event, ticket and why it failed."""
    settings = load_settings()
    with connect(settings) as rt:
        letters = dead_letters.read(rt.redis, settings, limit)
        total = rt.redis.xlen(settings.dead_letter_stream)
    if not letters:
        typer.echo("The dead-letter stream is empty.")
        return
    shown = table("entry", "tenant", "event", "ticket", "kind", "error", whole=("entry", "event"))
    for letter in letters:
        shown.add_row(
            letter.entry_id,
            letter.tenant_id or "?",
            letter.event_id or "?",
            letter.ticket_id or "?",
            _first(letter.fields, _KIND_KEYS),
            # Whole and wrapped: what to do is often at the end ("... check the API key").
            _first(letter.fields, _ERROR_KEYS),
        )
    print_table(shown)
    typer.echo(f"{len(letters)} of {total} shown. Replay: aiops dlq replay ENTRY... or --all")


@app.command("replay")
def replay(
    entry_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ENTRY]...", help="Entry ids from `dlq list`.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Put dead letters back on their shard stream for the flow, removing them from the DLQ.

    Fix the cause first (credentials, the ITSM being down, a bug): a letter that fails
    again lands here again.
    """
    if bool(entry_ids) == all_:
        fail("name the entries to replay (see `aiops dlq list`) or pass --all, not both")
    settings = load_settings()
    with connect(settings) as rt:
        if all_:
            letters = dead_letters.read(
                rt.redis, settings, rt.redis.xlen(settings.dead_letter_stream)
            )
        else:
            letters = dead_letters.fetch(rt.redis, settings, entry_ids or [])
            missing = set(entry_ids or []) - {letter.entry_id for letter in letters}
            if missing:
                fail(f"no dead letter {', '.join(sorted(missing))}; see `aiops dlq list`")
        replayed = 0
        for letter in letters:
            try:
                stream = dead_letters.replay(rt.redis, settings, letter)
            except dead_letters.NotReplayable as exc:
                typer.secho(f"skipped: {exc}; it stays in the DLQ", fg=typer.colors.YELLOW)
                continue
            replayed += 1
            typer.echo(f"{letter.entry_id} -> {stream} (event {letter.event_id})")
    typer.echo(f"Replayed {replayed} of {len(letters)} dead letters.")
