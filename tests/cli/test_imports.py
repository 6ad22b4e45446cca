"""`aiops history import`, `kb import`, `inventory import` into a real tenant, under RLS."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.conftest import FIXTURES
from warehouse.db import Database

HADOOP = FIXTURES / "tickets" / "gitbugs_hadoop" / "hadoop_bugs.csv"


@pytest.fixture()
def tenant(aiops: Invoke, tenant_id: str) -> str:
    assert aiops("tenants", "create", tenant_id, "--name", "Importer").exit_code == 0
    return tenant_id


def _count(db: Database, tenant_id: str, table: str) -> int:
    with db.tenant(tenant_id) as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
    assert row is not None
    return int(row["n"])


def test_generic_csv_is_imported_and_reimport_updates_in_place(
    aiops: Invoke, tenant: str, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "resolved.csv"
    path.write_text(
        "id,subject,description,resolution,category,site\n"
        "T-1,Outlook prompts for password,Since migration,Cleared credentials,Email,HQ\n"
        'T-2,VPN drops,"Drops every hour,\nsince Monday",Raised DPD timeout,Network,\n'
        "T-3,Printer offline,2nd floor,Restarted spooler,Printing,Leeds\n"
    )

    first = aiops("history", "import", str(path), "--tenant", tenant, "--batch-size", "2")
    again = aiops("history", "import", str(path), "--tenant", tenant)

    assert first.exit_code == 0, first.output
    assert "Imported 3 tickets" in first.output
    assert again.exit_code == 0, again.output
    assert _count(db, tenant, "ticket_history") == 3
    with db.tenant(tenant) as conn:
        row = conn.execute(
            "SELECT subject, description, resolution, category, source, extra "
            "FROM ticket_history WHERE ticket_id = 'T-2'"
        ).fetchone()
    assert row == {
        "subject": "VPN drops",
        "description": "Drops every hour,\nsince Monday",
        "resolution": "Raised DPD timeout",
        "category": "Network",
        "source": "import",
        "extra": {},
    }


def test_hadoop_jira_export_subset_is_imported_with_its_columns_mapped(
    aiops: Invoke, tenant: str, db: Database, tmp_path: Path
) -> None:
    with HADOOP.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for _, row in zip(range(300), reader, strict=False)]
    subset = tmp_path / "hadoop_subset.csv"
    with subset.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    first = dict(zip(header, rows[0], strict=True))

    result = aiops("history", "import", str(subset), "--tenant", tenant)

    assert result.exit_code == 0, result.output
    assert "Imported 300 tickets" in result.output
    assert _count(db, tenant, "ticket_history") == 300
    with db.tenant(tenant) as conn:
        row = conn.execute(
            "SELECT subject, resolution, priority, status, created_at, resolved_at, extra "
            "FROM ticket_history WHERE ticket_id = %s",
            (first["Issue id"],),
        ).fetchone()
    assert row is not None
    assert row["subject"] == first["Summary"]
    assert (row["priority"], row["status"]) == (first["Priority"], first["Status"])
    # The export's Resolution column names a status ("Fixed"), not a fix.
    assert row["resolution"] is None
    assert row["created_at"] == datetime.strptime(first["Created"], "%d/%b/%y %H:%M").replace(
        tzinfo=UTC
    )
    assert row["resolved_at"] is not None
    assert row["extra"] == {
        "Affects Version/s": first["Affects Version/s"],
        "resolution_name": first["Resolution"],
    }


def test_missing_id_column_is_a_clear_error_and_writes_nothing(
    aiops: Invoke, tenant: str, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "no_ids.csv"
    path.write_text("title,details\nPrinter offline,2nd floor\n")

    result = aiops("history", "import", str(path), "--tenant", tenant)

    assert result.exit_code == 1
    assert "no ticket id column" in result.output
    assert "issue id" in result.output
    assert "found: title, details" in result.output
    assert _count(db, tenant, "ticket_history") == 0


def test_a_bad_row_is_reported_by_line_and_nothing_is_written(
    aiops: Invoke, tenant: str, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "bad_date.csv"
    path.write_text("id,subject,created\nA-1,Fine,2024-03-01T10:00:00Z\nA-2,Broken,next tuesday\n")

    result = aiops("history", "import", str(path), "--tenant", tenant)

    assert result.exit_code == 1
    assert "line 3" in result.output
    assert "next tuesday" in result.output
    assert _count(db, tenant, "ticket_history") == 0


def test_unknown_tenant_is_a_clear_error(aiops: Invoke, tenant_id: str, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,subject\n1,x\n")

    result = aiops("history", "import", str(path), "--tenant", tenant_id)

    assert result.exit_code == 1
    assert f"tenant {tenant_id!r} does not exist" in result.output


def test_json_lines_history_is_imported(
    aiops: Invoke, tenant: str, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "tickets.jsonl"
    lines = [
        {"ticket_id": 101, "title": "Disk full", "resolution": "Rotated logs", "tags": ["disk"]},
        {"ticket_id": 102, "title": "DNS failing", "created_at": 1709287200000},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    result = aiops("history", "import", str(path), "--tenant", tenant)

    assert result.exit_code == 0, result.output
    with db.tenant(tenant) as conn:
        rows = conn.execute(
            "SELECT ticket_id, subject, tags, created_at FROM ticket_history ORDER BY ticket_id"
        ).fetchall()
    assert [(r["ticket_id"], r["subject"], r["tags"]) for r in rows] == [
        ("101", "Disk full", ["disk"]),
        ("102", "DNS failing", []),
    ]
    assert rows[1]["created_at"] == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_kb_and_inventory_imports(aiops: Invoke, tenant: str, db: Database, tmp_path: Path) -> None:
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "KB ID,Title,Content,Link,Keywords\n"
        "KB-1,Reset a VPN profile,Remove and re-add the profile,https://kb.example/1,vpn;client\n"
        "KB-2,Clear the print spooler,Stop the spooler and delete queued files,,printing\n"
    )
    hosts = tmp_path / "hosts.csv"
    hosts.write_text(
        "Host Name,IP Address,Type,Operating System,Site,Serial\n"
        "SRV-DC01,10.0.0.10,domain controller,Windows Server 2022,HQ,CZ123\n"
        "fw01,10.0.0.1,firewall,FortiOS,HQ,\n"
    )

    kb_result = aiops("kb", "import", str(kb), "--tenant", tenant)
    host_result = aiops("inventory", "import", str(hosts), "--tenant", tenant)

    assert kb_result.exit_code == 0, kb_result.output
    assert host_result.exit_code == 0, host_result.output
    with db.tenant(tenant) as conn:
        articles = conn.execute(
            "SELECT article_id, title, url, tags FROM kb_articles ORDER BY article_id"
        ).fetchall()
        found = conn.execute(
            "SELECT hostname, host(ip_address) AS ip, kind, os, location, attributes "
            "FROM system_inventory ORDER BY hostname"
        ).fetchall()
    assert [(a["article_id"], a["url"], a["tags"]) for a in articles] == [
        ("KB-1", "https://kb.example/1", ["vpn", "client"]),
        ("KB-2", None, ["printing"]),
    ]
    assert found[1] == {
        "hostname": "srv-dc01",
        "ip": "10.0.0.10",
        "kind": "domain controller",
        "os": "Windows Server 2022",
        "location": "HQ",
        "attributes": {"Serial": "CZ123"},
    }
    assert found[0]["attributes"] == {}


def test_inventory_rejects_an_invalid_ip(aiops: Invoke, tenant: str, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("hostname,ip\nsrv1,10.0.0.300\n")

    result = aiops("inventory", "import", str(hosts), "--tenant", tenant)

    assert result.exit_code == 1
    assert "'10.0.0.300' is not an IP address" in result.output
