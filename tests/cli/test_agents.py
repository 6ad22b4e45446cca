"""`aiops agents`: the lifecycle from the terminal against the real servers."""

from __future__ import annotations

import json
from pathlib import Path

from aiops.crypto import SecretBox
from tests.cli.conftest import Invoke
from tests.flows.conftest import add_tenant, seed
from warehouse.db import Database
from warehouse.knowledge import Article


def test_create_sandbox_test_activate_rollback(
    aiops: Invoke, db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    add_tenant(db, box, tenant_id)
    seed(db, tenant_id, articles=[Article("KB-101", "VPN drops hourly", "Raise the lifetime.")])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"instructions": "Be brief.", "note": {"max_chars": 900}}))
    ticket = tmp_path / "ticket.json"
    ticket.write_text(json.dumps({"id": "T1", "subject": "VPN drops hourly"}))

    made = aiops("agents", "create", tenant_id, "vpn", "--name", "VPN", "--spec", str(spec))
    assert made.exit_code == 0, made.output
    assert aiops("agents", "add-version", tenant_id, "vpn").exit_code == 0

    run = aiops("agents", "sandbox", tenant_id, "vpn", "1", "--ticket", str(ticket), "--trace")
    assert run.exit_code == 0, run.output
    assert "kb_articles" in run.output and "KB-101" in run.output and "Be brief." in run.output

    for version, wanted in (("1", "cites=KB-101"), ("2", "cites=KB-999")):
        added = aiops(
            "agents",
            "add-test",
            tenant_id,
            "vpn",
            version,
            "--name",
            "vpn",
            "--ticket",
            str(ticket),
            "--expect",
            wanted,
            "--expect",
            "shorter_than=900",
        )
        assert added.exit_code == 0, added.output
    assert aiops("agents", "test", tenant_id, "vpn", "1").exit_code == 0
    failing = aiops("agents", "test", tenant_id, "vpn", "2")
    assert failing.exit_code == 1 and "does not cite KB-999" in failing.output

    assert aiops("agents", "activate", tenant_id, "vpn", "1").exit_code == 0
    refused = aiops("agents", "activate", tenant_id, "vpn", "2")
    assert refused.exit_code == 1 and "stays inactive" in refused.output
    forced = aiops("agents", "activate", tenant_id, "vpn", "2", "--override", "KB being written")
    assert forced.exit_code == 0, forced.output
    assert aiops("agents", "rollback", tenant_id, "vpn").exit_code == 0
    listed = aiops("agents", "list", tenant_id)
    assert listed.exit_code == 0 and "vpn" in listed.output
    audit = aiops("agents", "deployments", tenant_id, "vpn")
    assert "rollback" in audit.output and "KB being written" in audit.output
    assert "cli:" in audit.output
    assert aiops("agents", "metrics", tenant_id, "vpn").exit_code == 0


def test_unknown_agent_says_what_to_do(
    aiops: Invoke, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    result = aiops("agents", "versions", tenant_id, "nope")
    assert result.exit_code == 1 and "aiops agents list" in result.output
