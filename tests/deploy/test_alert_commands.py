"""Every `aiops …` command an alert tells the operator to run exists, with the options it
names: an alert that points at a missing command sends someone off at the worst moment."""

from __future__ import annotations

import re

import typer
import yaml
from typer.core import TyperCommand, TyperGroup

from cli.main import app
from tests.deploy import manifests as m

RULES = m.DEPLOY / "prometheus" / "aiops-alerts.yml"
COMMAND = re.compile(r"`(aiops [^`]+)`")


def _named_commands() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    found: list[str] = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for text in rule.get("annotations", {}).values():
                found.extend(COMMAND.findall(text))
    return found


def _resolve(words: list[str]) -> tuple[TyperCommand | TyperGroup, list[str]]:
    """The command the words name, and the words left over for its options."""
    command = typer.main.get_command(app)
    while words and isinstance(command, TyperGroup) and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    assert isinstance(command, TyperCommand | TyperGroup)
    return command, words


def test_alerts_name_commands() -> None:
    assert len(_named_commands()) >= 3


def test_each_named_command_and_option_exists() -> None:
    for line in _named_commands():
        command, rest = _resolve(line.split()[1:])
        assert not isinstance(command, TyperGroup), f"{line!r} names a group, not a command"
        options = {opt for param in command.params for opt in param.opts}
        named = [word for word in rest if word.startswith("--")]
        missing = [word for word in named if word not in options]
        assert not missing, f"{line!r}: {command.name} has no {missing}"
