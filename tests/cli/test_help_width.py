"""Every command's --help at 80 columns names every option in full (no `--servicedesk-u…`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app

WIDTH = 80


# Typer 0.2x carries its own copy of click: groups are recognised by their commands.
def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


PATHS = list(_commands(typer.main.get_command(app)))


def test_every_command_is_walked() -> None:
    assert ("tenants", "create") in PATHS and ("up",) in PATHS and len(PATHS) > 20


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "aiops")
def test_help_at_80_columns_names_every_option_in_full(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    words = {word.strip("│,") for line in lines for word in line.split()}
    cut = sorted(w for w in words if w.startswith("-") and w.endswith("…"))
    assert not cut, f"`aiops {' '.join(path)} --help` cuts {cut}"
    for param in _command(path).params:
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("-"):
                assert name in words, f"`aiops {' '.join(path)} --help` cuts {name}"
