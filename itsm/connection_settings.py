"""A tenant's ITSM settings as given (CLI flags, API fields), checked against what its
plugin declares (ItsmPlugin.connection_fields) and sorted into ItsmConnection's parts.

Pure: no I/O. The front ends name each field their own way (`--zendesk-email`,
`itsm_username`) through `name_of`, so the errors speak the caller's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from itsm.base import ConnectionField, ItsmConnection, ItsmPlugin


class SettingsError(ValueError):
    """The settings do not fit the plugin; the message says which one and what to give."""


@dataclass(frozen=True)
class ConnectionSettings:
    """What is stored for the tenant; all empty when it does not write back."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    flavor: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def connection(self, timeout_seconds: float) -> ItsmConnection | None:
        if not (self.base_url and self.api_key):
            return None
        return ItsmConnection(
            base_url=self.base_url,
            api_key=self.api_key,
            flavor=self.flavor,
            username=self.username,
            timeout_seconds=timeout_seconds,
            options=dict(self.options),
            secrets=dict(self.secrets),
        )


def cli_flag(plugin_name: str, spec: ConnectionField) -> str:
    return f"--{plugin_name}-{spec.name.replace('_', '-')}"


def resolve(
    plugin: ItsmPlugin,
    given: Mapping[str, str | None],
    *,
    name_of: Callable[[ConnectionField], str],
    ask: Callable[[ConnectionField], str] | None = None,
) -> ConnectionSettings:
    """The settings in `given` (by field name). Giving any field but one with a default
    means "write back": then every required field for the flavor must be there, a secret
    left out is asked for with `ask` (the CLI's hidden prompt) when there is one. Fields
    that do not apply to the chosen flavor are dropped (Jira Data Center takes no e-mail)."""
    specs = {spec.name: spec for spec in plugin.connection_fields}
    unknown = sorted(set(given) - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise SettingsError(f"{plugin.title} has no setting {unknown[0]!r}; it takes: {known}")
    values = {name: value.strip() for name, value in given.items() if value and value.strip()}
    for name, text in values.items():
        spec = specs[name]
        if spec.choices and text not in spec.choices:
            raise SettingsError(
                f"{name_of(spec)} for {plugin.title} is one of {', '.join(spec.choices)}, "
                f"not {text!r}"
            )
        if spec.target == "base_url" and not text.startswith(("https://", "http://")):
            raise SettingsError(
                f"{name_of(spec)} must be a full URL starting with https:// (got {text!r})"
            )
    if not any(specs[name].default is None for name in values):
        return ConnectionSettings()
    flavor_spec = next((s for s in specs.values() if s.target == "flavor"), None)
    flavor = None
    if flavor_spec is not None:
        flavor = values.get(flavor_spec.name, flavor_spec.default)
    wanted = [s for s in specs.values() if not s.flavors or flavor in s.flavors]
    chosen = {s.name: values.get(s.name, s.default) for s in wanted}
    for spec in wanted:
        if spec.required and not chosen[spec.name] and not (spec.secret and ask):
            raise SettingsError(f"{plugin.title} needs {name_of(spec)}: {spec.label}")
    for spec in wanted:
        if spec.required and not chosen[spec.name] and ask is not None:
            chosen[spec.name] = ask(spec)
    by_target: dict[str, str | None] = {}
    options: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for spec in wanted:
        value = chosen[spec.name]
        if not value:
            continue
        if spec.target == "option":
            options[spec.name] = value
        elif spec.target == "secret":
            secrets[spec.name] = value
        else:
            by_target[spec.target] = value
    return ConnectionSettings(
        base_url=by_target.get("base_url"),
        api_key=by_target.get("api_key"),
        username=by_target.get("username"),
        flavor=by_target.get("flavor", flavor),
        options=options,
        secrets=secrets,
    )
