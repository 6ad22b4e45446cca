"""`aiops retention`: per-tenant retention, which the Dagster `retention` job applies daily."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import fail, print_table, table
from cli.runtime import connect, load_settings
from warehouse.retention import DEFAULT_ENHANCEMENT_DAYS, Policy, get_policy, set_policy
from warehouse.tenants import list_tenant_ids

app = typer.Typer(
    help="How long each tenant's enhancement and ticket history is kept.", no_args_is_help=True
)

_DEFAULT = "default"
_FOREVER = "forever"


def _days(option: str, value: str, unset: str) -> int | None:
    if value == unset:
        return None
    if not value.isdigit() or int(value) < 1:
        fail(f"{option} takes a number of days (at least 1) or '{unset}', not {value!r}")
    return int(value)


@app.command("show")
def show() -> None:
    """Every tenant's policy; 'default' follows the platform default of the retention job."""
    shown = table("tenant", "enhancement history", "ticket history", whole=("tenant",))
    with connect(load_settings()) as runtime:
        for tenant_id in list_tenant_ids(runtime.db):
            with runtime.db.tenant(tenant_id) as conn:
                policy = get_policy(conn)
            shown.add_row(
                tenant_id,
                f"{policy.enhancement_days} days"
                if policy.enhancement_days
                else f"{_DEFAULT} ({DEFAULT_ENHANCEMENT_DAYS} days)",
                f"{policy.ticket_days} days" if policy.ticket_days else _FOREVER,
            )
    print_table(shown)


@app.command("set")
def set_(
    tenant_id: Annotated[str, typer.Argument(metavar="TENANT")],
    enhancement_days: Annotated[
        str,
        typer.Option(help=f"Days of enhancement history to keep, or '{_DEFAULT}'."),
    ] = _DEFAULT,
    ticket_days: Annotated[
        str,
        typer.Option(help=f"Days of ticket history to keep (by creation day), or '{_FOREVER}'."),
    ] = _FOREVER,
) -> None:
    """Set a tenant's retention; older rows and Parquet partitions go at the next run."""
    policy = Policy(
        _days("--enhancement-days", enhancement_days, _DEFAULT),
        _days("--ticket-days", ticket_days, _FOREVER),
    )
    with connect(load_settings()) as runtime, runtime.db.tenant(tenant_id) as conn:
        if not set_policy(conn, policy):
            fail(f"no tenant {tenant_id!r}; `aiops tenants list` shows them")
    typer.echo(
        f"{tenant_id}: enhancement history {enhancement_days}"
        f"{' days' if policy.enhancement_days else ''}, ticket history {ticket_days}"
        f"{' days' if policy.ticket_days else ''}."
    )
