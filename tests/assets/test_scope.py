from __future__ import annotations

import pytest

from assets.analytics.scope import TENANTS_TAG, UnknownTenantsError, chosen_tenants

KNOWN = ["acme", "beta", "gamma"]


@pytest.mark.parametrize("tag", [None, "", "  "])
def test_no_tag_means_every_tenant(tag: str | None) -> None:
    assert chosen_tenants(KNOWN, tag) == KNOWN


def test_a_tag_of_separators_only_is_refused() -> None:
    with pytest.raises(UnknownTenantsError, match="names no tenant"):
        chosen_tenants(KNOWN, " , ")


def test_named_tenants_are_trimmed_deduplicated_and_sorted() -> None:
    assert chosen_tenants(KNOWN, " gamma,acme , gamma") == ["acme", "gamma"]


def test_an_unknown_tenant_is_refused_by_name() -> None:
    with pytest.raises(UnknownTenantsError, match=f"{TENANTS_TAG}.*delta, zeta"):
        chosen_tenants(KNOWN, "acme,zeta,delta")
