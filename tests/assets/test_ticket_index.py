from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    DagsterInstance,
    RunRequest,
    SensorResult,
    build_sensor_context,
    materialize,
)

from aiops.crypto import SecretBox
from aiops.events import Ticket
from assets.partitions import TENANTS
from assets.tenants.sensors import tenant_partitions
from assets.ticket_index.assets import ticket_history_index
from assets.ticket_index.sensors import ticket_index_freshness
from flows.retrieval import Bm25Index
from tests.analytics import seed
from tests.bench.corpus import load_duplicate_links, load_issues
from warehouse.analytics import ticket_index
from warehouse.db import Database
from warehouse.tickets import upsert_tickets


def _index(instance: DagsterInstance, resources: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    result = materialize(
        [ticket_history_index], partition_key=tenant_id, instance=instance, resources=resources
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_index_quality_on_the_tenants_own_duplicate_links(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
) -> None:
    """The Hadoop Jira issues with their human duplicate links, imported as one tenant."""
    issues, links = load_issues(), load_duplicate_links()
    seed.tenant(db, box, tenant_id)
    tickets = [
        Ticket(
            id=issue.issue_id,
            subject=issue.summary,
            description=issue.description,
            extra={"duplicates": sorted(links.get(issue.issue_id, ()))},
        )
        for issue in issues.values()
    ]
    with db.tenant(tenant_id) as conn:
        upsert_tickets(conn, tickets, "jira")
    instance.add_dynamic_partitions(TENANTS, [tenant_id])

    metadata = _index(instance, resources, tenant_id)

    assert metadata["rows_indexed"] == metadata["rows_total"] == len(issues)
    assert metadata["duplicate_queries"] == len(links)
    # tests/flows/test_retrieval_quality.py: BM25 finds about 78 % on these pairs.
    assert metadata["duplicate_recall_at_10"] >= 0.70
    assert "category_precision_at_5" not in metadata


def test_refresh_reads_only_changed_rows_and_matches_a_fresh_build(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=1)
    subjects = {
        "N1": ("VPN drops every hour", "network"),
        "N2": ("VPN client cannot connect", "network"),
        "N3": ("wifi slow in meeting room", "network"),
        "P1": ("printer jam tray 2", "printing"),
        "P2": ("printer toner empty", "printing"),
        "P3": ("printer offline after update", "printing"),
    }
    with db.tenant(tenant_id) as conn:
        for tid, (subject, category) in subjects.items():
            seed.ticket(conn, tid, seed.at(day), subject=subject, category=category)
    instance.add_dynamic_partitions(TENANTS, [tenant_id])

    first = _index(instance, resources, tenant_id)
    assert (first["rows_indexed"], first["rows_removed"], first["rows_total"]) == (6, 0, 6)
    assert first["category_precision_at_5"] > 0.3

    with db.tenant(tenant_id) as conn:
        conn.execute(
            "UPDATE ticket_history SET resolution = 'reinstalled driver', updated_at = now()"
            " WHERE ticket_id = 'P3'"
        )
        conn.execute("DELETE FROM ticket_history WHERE ticket_id = 'N3'")
        seed.ticket(conn, "N4", seed.at(day), subject="VPN token expired", category="network")
    second = _index(instance, resources, tenant_id)
    assert (second["rows_indexed"], second["rows_removed"], second["rows_total"]) == (2, 1, 6)

    loaded = ticket_index.load(warehouse_dir, tenant_id)
    assert loaded is not None
    persisted = Bm25Index(loaded.ids, loaded.model, loaded.vocab)
    with db.tenant(tenant_id) as conn:
        docs = [
            (
                r["ticket_id"],
                ticket_index.document_text(r["subject"], r["description"], r["resolution"]),
            )
            for r in conn.execute("SELECT * FROM ticket_history ORDER BY ticket_id")
        ]
    fresh = Bm25Index.build(docs)
    for query in ("printer driver reinstalled", "VPN token", "wifi meeting room"):
        assert persisted.search(query, 3) == fresh.search(query, 3)
    assert persisted.search("wifi meeting room", 3) == []

    third = _index(instance, resources, tenant_id)
    assert (third["rows_indexed"], third["rebuilt"], third["version"]) == (
        0,
        False,
        second["version"],
    )


def test_sensor_requests_a_refresh_only_for_tenants_whose_tickets_changed(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
) -> None:
    changed, quiet = seed.tenant(db, box, tenant_id), seed.tenant(db, box, tenant_id + "-q")
    for tid in (changed, quiet):
        with db.tenant(tid) as conn:
            seed.ticket(conn, "T-1", seed.at(seed.today()), subject="disk full")
    instance.add_dynamic_partitions(TENANTS, [changed, quiet])

    def requested() -> set[str]:
        context = build_sensor_context(instance=instance, resources=resources)
        result = ticket_index_freshness(context)
        return (
            {str(r.partition_key) for r in result if isinstance(r, RunRequest)}
            if isinstance(result, list)
            else set()
        )

    assert {changed, quiet} <= requested()
    _index(instance, resources, changed)
    _index(instance, resources, quiet)
    assert not {changed, quiet} & requested()
    with db.tenant(changed) as conn:
        seed.ticket(conn, "T-2", seed.at(seed.today()), subject="disk full again")
    assert changed in requested() and quiet not in requested()


def test_tenant_partitions_follow_the_tenants_table(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
) -> None:
    seed.tenant(db, box, tenant_id)
    instance.add_dynamic_partitions(TENANTS, ["deleted-tenant"])

    def evaluate() -> SensorResult | None:
        result = tenant_partitions(build_sensor_context(instance=instance, resources=resources))
        return result if isinstance(result, SensorResult) else None

    result = evaluate()
    assert result is not None
    assert result.dynamic_partitions_requests is not None
    add, delete = result.dynamic_partitions_requests
    assert tenant_id in add.partition_keys
    assert list(delete.partition_keys) == ["deleted-tenant"]
    instance.add_dynamic_partitions(TENANTS, list(add.partition_keys))
    instance.delete_dynamic_partition(TENANTS, "deleted-tenant")
    assert evaluate() is None
