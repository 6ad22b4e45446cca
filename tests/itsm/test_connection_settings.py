"""Plugin-declared connection settings: sorted into ItsmConnection's parts, checked first."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from itsm import registry
from itsm.base import ConnectionField
from itsm.connection_settings import ConnectionSettings, SettingsError, cli_flag, resolve

JIRA = registry.plugin("jira")
SDP = registry.plugin("servicedesk")


def _flag(plugin: str) -> Callable[[ConnectionField], str]:
    return lambda spec: cli_flag(plugin, spec)


def test_nothing_given_means_no_write_back_even_with_a_flavor() -> None:
    assert resolve(SDP, {}, name_of=_flag("servicedesk")) == ConnectionSettings()
    flavor_only = resolve(SDP, {"flavor": "cloud"}, name_of=_flag("servicedesk"))
    assert flavor_only == ConnectionSettings()


def test_fields_land_on_their_targets_with_defaults_filled() -> None:
    got = resolve(
        JIRA,
        {"url": "https://acme.atlassian.net", "email": "a@acme.example", "token": "t"},
        name_of=_flag("jira"),
    )
    assert (got.base_url, got.username, got.api_key, got.flavor) == (
        "https://acme.atlassian.net",
        "a@acme.example",
        "t",
        "cloud",
    )
    assert got.connection(5.0) is not None


def test_a_missing_required_field_names_the_callers_flag() -> None:
    with pytest.raises(SettingsError, match="--jira-email"):
        resolve(JIRA, {"url": "https://acme.atlassian.net", "token": "t"}, name_of=_flag("jira"))
    with pytest.raises(SettingsError, match="--servicedesk-url"):
        resolve(SDP, {"key": "k"}, name_of=_flag("servicedesk"))


def test_a_field_of_another_flavor_is_dropped_and_a_secret_is_asked_for() -> None:
    asked: list[str] = []

    def ask(spec: ConnectionField) -> str:
        asked.append(spec.name)
        return "typed"

    got = resolve(
        JIRA,
        {"url": "https://jira.acme.example", "flavor": "datacenter", "email": "x@y.example"},
        name_of=_flag("jira"),
        ask=ask,
    )
    assert (got.username, got.api_key, asked) == (None, "typed", ["token"])


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"url": "https://x.example", "key": "k", "flavor": "saas"}, "one of onprem, cloud"),
        ({"url": "sdp.acme.example", "key": "k"}, "full URL"),
        ({"nonsense": "1"}, "no setting 'nonsense'"),
    ],
)
def test_bad_values_are_refused(given: dict[str, str | None], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        resolve(SDP, given, name_of=_flag("servicedesk"))


def test_options_and_secrets_are_kept_apart() -> None:
    class Fake:
        name = "fake"
        title = "Fake"
        connection_fields = (
            ConnectionField("url", "address", "", target="base_url"),
            ConnectionField("key", "key", "", target="api_key"),
            ConnectionField("company", "company id", ""),
            ConnectionField("private_key", "private key", "", target="secret"),
        )

    got = resolve(
        Fake(),  # type: ignore[arg-type]
        {"url": "https://f.example", "key": "k", "company": "acme", "private_key": "pk-9f8e7d"},
        name_of=lambda spec: spec.name,
    )
    assert dict(got.options) == {"company": "acme"}
    assert dict(got.secrets) == {"private_key": "pk-9f8e7d"}
    assert "pk-9f8e7d" not in repr(got)
