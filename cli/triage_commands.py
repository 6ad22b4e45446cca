"""`aiops triage`: per tenant, whether suggestions are written to the ticket's own fields."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import fail, print_table, table
from cli.runtime import connect, load_settings
from warehouse.tenants import list_tenant_ids
from warehouse.triage import FIELDS, get_settings, set_settings

app = typer.Typer(
    help="Category, priority and type suggestions: which are written to the ticket itself.",
    no_args_is_help=True,
)


@app.command("show")
def show() -> None:
    """Every tenant's triage write-back policy (suggestions are always in the note)."""
    shown = table("tenant", "write fields", "threshold", "fields", whole=("tenant",))
    with connect(load_settings()) as runtime:
        for tenant_id in list_tenant_ids(runtime.db):
            with runtime.db.tenant(tenant_id) as conn:
                policy = get_settings(conn)
            shown.add_row(
                tenant_id,
                "on" if policy.write_fields else "off",
                f"{policy.threshold:.0%}",
                ", ".join(policy.fields),
            )
    print_table(shown)


@app.command("set")
def set_(
    tenant_id: Annotated[str, typer.Argument(metavar="TENANT")],
    write_fields: Annotated[
        bool | None,
        typer.Option(
            "--write-fields/--no-write-fields",
            help="Write sure suggestions to the ticket's own fields (off by default).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=1.0,
            help="Lowest confidence written, 0.01 to 1 (default 0.8).",
            show_default=False,
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help=f"A field that may be written ({', '.join(FIELDS)}); repeat for more.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Change a tenant's policy; what is not given stays as it was."""
    unknown = sorted(set(field or ()) - set(FIELDS))
    if unknown:
        fail(f"unknown field {', '.join(unknown)}: choose from {', '.join(FIELDS)}")
    with connect(load_settings()) as runtime:
        if tenant_id not in list_tenant_ids(runtime.db):
            fail(f"no tenant {tenant_id!r}; `aiops tenants list` shows them")
        with runtime.db.tenant(tenant_id) as conn:
            policy = set_settings(
                conn, write_fields=write_fields, threshold=threshold, fields=field
            )
    state = "written to the ticket" if policy.write_fields else "shown in the note only"
    typer.echo(
        f"{tenant_id}: suggestions {state}; from {policy.threshold:.0%} confidence; "
        f"fields {', '.join(policy.fields)}."
    )
