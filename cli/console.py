"""How commands talk to the person at the terminal."""

from __future__ import annotations

from collections.abc import Collection
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

# Tables only; anything a person may copy (URLs, secrets) is printed with typer.echo so
# that rich never wraps it.
tables = Console(soft_wrap=False)


def fail(message: str) -> NoReturn:
    """Stops the command with a message that says what to do next."""
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def heading(text: str) -> None:
    typer.secho(text, bold=True)


def table(*headers: str, whole: Collection[str] = ()) -> Table:
    """A table whose `whole` columns (ids people copy) are never wrapped."""
    result = Table()
    for header in headers:
        result.add_column(header, no_wrap=header in whole)
    return result
