"""`aiops api-keys`: tenant API keys for the management API (made, listed, revoked)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cli.console import fail, heading, print_table, table
from cli.runtime import connect, load_settings
from warehouse import api_keys
from warehouse.tenants import tenant_summary

app = typer.Typer(
    help="Tenant API keys for the management API: read (GETs, analytics SQL) or admin "
    "(also changes) within one tenant.",
    no_args_is_help=True,
)

TenantArg = Annotated[str, typer.Argument(metavar="TENANT", help="The tenant id, e.g. acme.")]


class Scope(StrEnum):
    read = "read"
    admin = "admin"


def _unknown_tenant(tenant_id: str) -> None:
    fail(f"there is no tenant {tenant_id!r}; see `aiops tenants list`")


@app.command("create")
def create(
    tenant_id: TenantArg,
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'PSA sync'.")],
    scope: Annotated[
        Scope, typer.Option(help="read: GETs and analytics SQL; admin: also changes.")
    ] = Scope.read,
) -> None:
    """Make a key and print its token, once: only a hash of it is stored."""
    if not name.strip():
        fail("--name must say what the key is for")
    with connect(load_settings()) as rt, rt.db.tenant(tenant_id) as conn:
        try:
            made = api_keys.create_key(conn, name, scope.value)
        except api_keys.UnknownTenantError:
            _unknown_tenant(tenant_id)
    heading(f"API key {made.key.key_id!r} ({scope.value}) for tenant {tenant_id!r} is made.")
    typer.echo("Token (shown only now; it will not be shown again, keep it somewhere safe):")
    typer.echo(f"  {made.token}")
    typer.echo("\nSend it as 'Authorization: Bearer <token>' to the management API.")
    typer.echo(f"Revoke it with: aiops api-keys revoke {tenant_id} {made.key.key_id}")


@app.command("list")
def list_(tenant_id: TenantArg) -> None:
    """List the tenant's keys, revoked ones included (never a token)."""
    with connect(load_settings()) as rt:
        if tenant_summary(rt.db, tenant_id) is None:
            _unknown_tenant(tenant_id)
        with rt.db.tenant(tenant_id) as conn:
            keys = api_keys.list_keys(conn)
    if not keys:
        typer.echo(f"No API keys yet. Make one with `aiops api-keys create {tenant_id} --name N`.")
        return
    shown = table("key id", "name", "scope", "created", "last used", "revoked", whole=("key id",))
    for key in keys:
        shown.add_row(
            key.key_id,
            key.name,
            key.scope,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    print_table(shown)


@app.command("revoke")
def revoke(
    tenant_id: TenantArg,
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="From `aiops api-keys list`.")],
) -> None:
    """Revoke a key: it stops working at once."""
    with connect(load_settings()) as rt, rt.db.tenant(tenant_id) as conn:
        key = api_keys.revoke_key(conn, key_id)
    if key is None:
        fail(
            f"tenant {tenant_id!r} has no API key {key_id!r}; see `aiops api-keys list {tenant_id}`"
        )
    typer.echo(f"API key {key_id!r} ({key.name}) of tenant {tenant_id!r} is revoked.")
