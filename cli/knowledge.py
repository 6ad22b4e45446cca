"""`aiops kb` and `aiops inventory`: the context a tenant's notes can draw on."""

from __future__ import annotations

import typer

from cli import importer_command, importing

kb_app = typer.Typer(help="Knowledge-base articles, cited in notes.", no_args_is_help=True)
inventory_app = typer.Typer(
    help="The hosts a tenant manages, matched against names and IPs in tickets.",
    no_args_is_help=True,
)


@kb_app.command("import")
def import_articles(
    file: importer_command.FileArg,
    tenant: importer_command.TenantOpt,
    batch_size: importer_command.BatchOpt = 500,
) -> None:
    """Import KB articles from CSV or JSON lines; re-importing updates them in place.

    Columns: id / article_id / KB ID; title / subject; body / content / solution; url /
    link; tags / keywords.
    """
    importer_command.run(file, tenant, importing.ARTICLES, batch_size)


@inventory_app.command("import")
def import_hosts(
    file: importer_command.FileArg,
    tenant: importer_command.TenantOpt,
    batch_size: importer_command.BatchOpt = 500,
) -> None:
    """Import hosts from CSV or JSON lines; re-importing updates them in place.

    Columns: hostname / host / name; ip / ip_address; kind / type / role; os; location /
    site; owner. Other columns are kept as attributes.
    """
    importer_command.run(file, tenant, importing.HOSTS, batch_size)
