"""`--<plugin>-<setting>` options for every ITSM plugin's declared connection fields, so a
new plugin shows up in `aiops tenants create` without editing the command.

`with_itsm_options(command)` adds one typer option per field (grouped per ITSM in --help)
and hands the command what was given as `itsm_values`: {plugin: {field: value or None}}.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

from itsm import registry
from itsm.base import ConnectionField
from itsm.connection_settings import cli_flag

ItsmValues = dict[str, dict[str, str | None]]


def _parameter_name(plugin: str, spec: ConnectionField) -> str:
    return f"{plugin}_{spec.name}"


def _help(spec: ConnectionField) -> str:
    text = spec.help
    if spec.example and spec.example not in text:
        text += f" E.g. {spec.example}."
    if spec.default is not None:
        text += f" Default: {spec.default}."
    return text


def choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """An Enum of `values`, which typer shows and checks as a choice."""
    return StrEnum(name, {value: value for value in values})  # type: ignore[return-value]


def _parameters() -> list[tuple[str, ConnectionField, inspect.Parameter]]:
    found = []
    for name, plugin in sorted(registry.PLUGINS.items()):
        for spec in plugin.connection_fields:
            option = typer.Option(
                cli_flag(name, spec),
                help=_help(spec),
                rich_help_panel=f"{plugin.title} (--itsm {name})",
                show_default=False,
            )
            # typer offers a fixed set of values as a click.Choice when they are an Enum.
            kind: Any = choices(_parameter_name(name, spec), spec.choices) if spec.choices else str
            parameter = inspect.Parameter(
                _parameter_name(name, spec),
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[kind | None, option],
            )
            found.append((name, spec, parameter))
    return found


def with_itsm_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command` takes `itsm_values: ItsmValues`; the wrapper takes the generated options."""
    generated = _parameters()
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "itsm_values"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values: ItsmValues = {name: {} for name in registry.PLUGINS}
        for plugin, spec, parameter in generated:
            value = kwargs.pop(parameter.name, None)
            values[plugin][spec.name] = None if value is None else str(value)
        command(*args, itsm_values=values, **kwargs)

    parameters = kept + [parameter for _, _, parameter in generated]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    wrapper.__annotations__["return"] = None
    del wrapper.__wrapped__  # typer must read the new signature, not the command's
    return wrapper


def given_flags(plugin: str, values: dict[str, str | None]) -> list[str]:
    """The flags of `plugin` that were given, for an error that names them."""
    specs = {spec.name: spec for spec in registry.plugin(plugin).connection_fields}
    return [cli_flag(plugin, specs[name]) for name, value in values.items() if value]
