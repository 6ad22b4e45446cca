"""The `aiops` command (console script `cli.main:app`)."""

from __future__ import annotations

from typing import Annotated

import typer

from aiops.embedded import services
from cli import agents, api_keys, dlq, history, knowledge, retention_commands, tenants
from cli.demo import demo
from cli.keys import app as keys_app
from cli.runtime import explained_errors, is_embedded, load_settings, migrate_database
from cli.sql import sql
from cli.up import up
from warehouse import migrate as migrations

app = typer.Typer(
    help="AI Ops: ticket enhancement for MSPs. Start with `aiops up`, then `aiops demo`.\n\n"
    "Every setting is an AI_AGENTS_* environment variable (see README.md). With no "
    "AI_AGENTS_DATABASE_URL / AI_AGENTS_REDIS_URL, commands use the embedded PostgreSQL and "
    "Redis under AI_AGENTS_STATE_DIR (default .aiops), starting them if `aiops up` is not "
    "running.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(up)
app.command()(demo)
app.add_typer(tenants.app, name="tenants")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(history.app, name="history")
app.add_typer(knowledge.kb_app, name="kb")
app.add_typer(knowledge.inventory_app, name="inventory")
app.add_typer(dlq.app, name="dlq")
app.add_typer(retention_commands.app, name="retention")
app.add_typer(keys_app, name="keys")
app.add_typer(agents.app, name="agents")
app.command()(sql)


@app.command()
def migrate(
    downgrade: Annotated[
        str | None,
        typer.Option(metavar="REV", help="Go back to this revision ('base' removes everything)."),
    ] = None,
) -> None:
    """Bring the database schema up to date (or down to REV) with the owner's URL.

    Uses AI_AGENTS_MIGRATION_DATABASE_URL (else AI_AGENTS_DATABASE_URL). `aiops up` runs
    this itself on every start.
    """
    settings = load_settings()
    with explained_errors(), services(settings) as urls:
        if downgrade is not None:
            migrations.downgrade(urls.migration_database_url, downgrade)
            typer.echo(f"Database downgraded to {downgrade}.")
            return
        migrate_database(settings, urls)
    where = "embedded database" if is_embedded(settings) else "database"
    typer.echo(f"The {where} schema is up to date.")
