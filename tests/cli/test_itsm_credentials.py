"""`aiops tenants create` tries the ITSM credentials before saving them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiops.crypto import SecretBox
from tests.cli.conftest import Invoke
from tests.fakes.loopback import free_port
from tests.fakes.sdp_server import SdpServer
from warehouse.db import Database
from warehouse.tenants import get_tenant, tenant_summary

KEY = "sdp-cli-checked-key-3c2b1a"


@pytest.fixture()
def sdp() -> Iterator[SdpServer]:
    with SdpServer(flavor="cloud", api_key=KEY) as server:
        yield server


def test_good_credentials_are_tried_then_saved(
    aiops: Invoke, tenant_id: str, sdp: SdpServer, db: Database, box: SecretBox
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Checked",
        "--servicedesk-url", sdp.base_url, "--servicedesk-key", KEY,
        "--servicedesk-flavor", "cloud",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r.path for r in sdp.received] == ["/api/v3/requests"]
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.itsm_api_key == KEY


def test_refused_credentials_are_not_saved(
    aiops: Invoke, tenant_id: str, sdp: SdpServer, db: Database
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Refused",
        "--servicedesk-url", sdp.base_url, "--servicedesk-key", "a-mistyped-key",
        "--servicedesk-flavor", "cloud",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "refused the credentials (401)" in result.output
    assert "Nothing was saved" in result.output
    assert "a-mistyped-key" not in result.output
    assert tenant_summary(db, tenant_id) is None


def test_an_unreachable_itsm_is_not_saved_unless_told_to_skip_the_check(
    aiops: Invoke, tenant_id: str, db: Database
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Offline",
        "--servicedesk-url", nowhere, "--servicedesk-key", KEY,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "unreachable" in result.output and "--skip-itsm-check" in result.output
    assert tenant_summary(db, tenant_id) is None
    skipped = aiops(
        "tenants", "create", tenant_id, "--name", "Offline",
        "--servicedesk-url", nowhere, "--servicedesk-key", KEY, "--skip-itsm-check",
    )  # fmt: skip
    assert skipped.exit_code == 0, skipped.output
    summary = tenant_summary(db, tenant_id)
    assert summary is not None and summary.has_itsm_credentials
