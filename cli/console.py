"""How commands talk to the person at the terminal."""

from __future__ import annotations

from collections.abc import Collection
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table


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


def print_table(shown: Table) -> None:
    """Tables only: anything a person may copy whole (URLs, secrets) goes through
    typer.echo, which never wraps. The console is made per call so it measures the
    terminal (or COLUMNS) as it is now."""
    Console().print(shown)
