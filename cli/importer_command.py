"""The one import routine behind `history import`, `kb import` and `inventory import`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer

from cli import importing
from cli.console import fail
from cli.runtime import connect, load_settings
from warehouse import tenants

T = TypeVar("T")

FileArg = Annotated[
    Path,
    typer.Argument(
        exists=True,
        dir_okay=False,
        readable=True,
        help="A CSV file with a header row, or JSON lines (.jsonl: one object per line).",
    ),
]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant the rows belong to.")]
BatchOpt = Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")]


def run(path: Path, tenant_id: str, kind: importing.Kind[T], batch_size: int) -> None:
    try:
        cmap, total = importing.check(path, kind)
    except importing.ImportRejected as exc:
        fail(str(exc))
    if total == 0:
        fail(f"{path.name} has no rows to import")
    typer.echo(
        f"Importing {total} {kind.unit} from {path.name} ("
        + ", ".join(f"{field} <- {name!r}" for field, name in cmap.fields.items())
        + ")",
        err=True,
    )
    with connect(load_settings()) as rt:
        if tenants.tenant_summary(rt.db, tenant_id) is None:
            fail(
                f"tenant {tenant_id!r} does not exist; create it with "
                f"`aiops tenants create {tenant_id} --name ...` (see `aiops tenants list`)"
            )
        written = importing.write(rt.db, tenant_id, path, kind, cmap, total, batch_size)
    typer.echo(f"Imported {written} {kind.unit} for tenant {tenant_id}.")
