"""`aiops keys`: make a master key, re-encrypt every secret under it, see how far it got."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from tqdm import tqdm

from aiops.crypto import generate_key, key_id, parse_key
from cli.console import fail, heading, print_table, table
from cli.runtime import connect, load_settings
from warehouse import rotation
from warehouse.tenants import list_tenant_ids

app = typer.Typer(
    help="Master key rotation for the secrets at rest (see README: Rotating the master key).",
    no_args_is_help=True,
)


@app.command()
def generate() -> None:
    """Print a new master key (base64 of 32 random bytes) for AI_AGENTS_ENCRYPTION_KEY."""
    key = generate_key()
    typer.echo(key)
    typer.echo(
        f"Key id {key_id(parse_key(key))}. Next: restart every process with it as "
        "AI_AGENTS_ENCRYPTION_KEY and the old key in AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS, "
        "then run `aiops keys rotate`.",
        err=True,
    )


@app.command()
def rotate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be re-encrypted; change nothing.")
    ] = False,
) -> None:
    """Re-encrypt every secret under the current key (AI_AGENTS_ENCRYPTION_KEY).

    Tenant by tenant, one short transaction each; secrets already under the current key
    are skipped, so it can be stopped and run again. Every process must already hold the
    new key (as current) and the old ones (AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS).
    """
    settings = load_settings()
    with connect(settings) as rt:
        try:
            rotation.check_keys(rt.box)
        except rotation.RotationKeysError as exc:
            fail(str(exc))
        done: list[rotation.TenantRotation] = []
        tenant_ids = list_tenant_ids(rt.db)
        try:
            for tenant_id in tqdm(tenant_ids, desc="tenants", unit="tenant", file=sys.stderr):
                done.append(
                    rotation.rotate_tenant(
                        rt.db, rt.box, rt.redis, settings.stream_prefix, tenant_id, dry_run=dry_run
                    )
                )
        except rotation.UndecryptableSecretError as exc:
            fail(
                f"{exc}. Add that key to AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS and run "
                f"`aiops keys rotate` again ({len(done)} tenants before it are done)."
            )
    counts = {
        "secrets " + ("to re-encrypt" if dry_run else "re-encrypted"): sum(
            t.reencrypted for t in done
        ),
        "secrets already current": sum(t.current for t in done),
        "directory entries " + ("to republish" if dry_run else "republished"): sum(
            t.republished for t in done
        ),
    }
    heading(("Dry run, nothing changed: " if dry_run else "") + f"{len(done)} tenants.")
    width = max(map(len, counts))
    for label, count in counts.items():
        typer.echo(f"  {label + ':':<{width + 1}} {count}")
    if not dry_run:
        typer.echo("Check with `aiops keys status` before dropping the previous keys.")


@app.command()
def status() -> None:
    """How many secrets each master key seals: the old key can go once it seals none."""
    settings = load_settings()
    with connect(settings) as rt:
        usage = rotation.key_usage(rt.db, rt.box, rt.redis, settings.stream_prefix)
    shown = table(
        "master key", "held as", "database secrets", "directory entries", whole=("master key",)
    )
    for kid in usage.key_ids:
        held = (
            "current"
            if kid == usage.current_key_id
            else "previous"
            if kid in usage.older_key_ids
            else "NOT HELD"
        )
        shown.add_row(kid, held, str(usage.database[kid]), str(usage.directory[kid]))
    heading(f"{usage.tenants} tenants.")
    print_table(shown)
    if usage.not_current:
        typer.echo(
            f"{usage.not_current} secrets are not under the current key yet: run "
            "`aiops keys rotate`, and keep the previous keys until this says none are."
        )
    else:
        typer.echo(
            "Every secret is under the current key: the previous keys can be removed from "
            "AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS (then restart the processes)."
        )
