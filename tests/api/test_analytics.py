"""Tenant-scoped SQL and rollups over the Parquet warehouse, through the management API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from tests.analytics import seed
from warehouse.analytics import duck, rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, export_partition
from warehouse.analytics.layout import part_of, tenant_dir
from warehouse.db import Database

DAY = seed.today() - timedelta(days=1)


@pytest.fixture()
def two_tenants(
    client: TestClient, db: Database, box: SecretBox, settings: Settings, tenant_id: str
) -> tuple[str, str]:
    """Both tenants' enhancements, tickets and rollups for DAY, exported to Parquet."""
    root = settings.warehouse_path
    ids = (seed.tenant(db, box, tenant_id), seed.tenant(db, box, tenant_id + "-x"))
    for tid in ids:
        with db.tenant(tid) as conn:
            seed.random_day(conn, DAY, 12, seed=len(tid), prefix=tid)
            seed.ticket(conn, f"{tid}-T", seed.at(DAY), subject=f"secret of {tid}")
            export_partition(conn, root, ENHANCEMENTS, tid, DAY)
            export_partition(conn, root, TICKETS, tid, DAY)
        rollups.write_daily(root, tid, DAY)
        rollups.write_sources(root, tid, DAY)
    return ids


def test_sql_sees_only_the_tenants_rows(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    response = client.post(
        f"/tenants/{mine}/analytics/sql",
        json={"sql": "SELECT tenant_id, subject FROM ticket_history"},
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json() == {
        "columns": ["tenant_id", "subject"],
        "rows": [[mine, f"secret of {mine}"]],
        "truncated": False,
    }
    named = client.post(
        f"/tenants/{mine}/analytics/sql",
        json={"sql": f"SELECT * FROM enhancement_history WHERE tenant_id = '{theirs}'"},
        headers=auth,
    )
    assert named.status_code == 200
    assert named.json()["rows"] == []


def test_sql_cannot_read_another_tenants_files(
    client: TestClient, auth: dict[str, str], settings: Settings, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    root = settings.warehouse_path
    their_part = part_of(root, ENHANCEMENTS, theirs, DAY)
    assert their_part is not None and their_part.path.exists()
    their_file = their_part.path
    for attempt in (
        f"SELECT * FROM read_parquet('{their_file}')",
        f"SELECT * FROM read_parquet('{tenant_dir(root, mine)}/../tenant_id={theirs}/**')",
        f"SELECT * FROM '{their_file}'",
    ):
        response = client.post(
            f"/tenants/{mine}/analytics/sql", json={"sql": attempt}, headers=auth
        )
        assert response.status_code == 400, attempt
        assert response.json()["detail"].startswith("query not run: "), attempt


def test_sql_refuses_writes_and_bad_sql(
    client: TestClient, auth: dict[str, str], settings: Settings, two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    target = tenant_dir(settings.warehouse_path, mine) / "x.csv"
    for attempt, reason in (
        ("DELETE FROM enhancement_history", "only SELECT"),
        (f"COPY (SELECT 1) TO '{target}'", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT nope FROM ticket_history", "nope"),
    ):
        response = client.post(
            f"/tenants/{mine}/analytics/sql", json={"sql": attempt}, headers=auth
        )
        assert response.status_code == 400, attempt
        assert reason in response.json()["detail"], attempt
    assert not target.exists()


def test_sql_rows_are_bounded_and_jsonable(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    response = client.post(
        f"/tenants/{mine}/analytics/sql",
        json={"sql": "SELECT day, cost_usd FROM daily_rollup", "max_rows": 1},
        headers=auth,
    )
    assert response.status_code == 200
    [[day, cost]] = response.json()["rows"]
    assert day == DAY.isoformat()
    assert isinstance(cost, float)
    assert response.json()["truncated"] is False

    many = client.post(
        f"/tenants/{mine}/analytics/sql",
        json={"sql": "SELECT event_id FROM enhancement_history", "max_rows": 5},
        headers=auth,
    )
    assert len(many.json()["rows"]) == 5
    assert many.json()["truncated"] is True
    too_many = client.post(
        f"/tenants/{mine}/analytics/sql",
        json={"sql": "SELECT 1", "max_rows": 10_001},
        headers=auth,
    )
    assert too_many.status_code == 422


def test_rollups_are_the_tenants_own(
    client: TestClient, auth: dict[str, str], settings: Settings, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    root = settings.warehouse_path
    response = client.get(f"/tenants/{mine}/analytics/rollups", headers=auth)
    assert response.status_code == 200
    body = response.json()
    start, end = DAY - timedelta(days=29), seed.today()
    daily = duck.daily_rollups(root, mine, start, end)
    sources = duck.source_rollups(root, mine, start, end)
    assert [row["day"] for row in daily] == [DAY]
    assert body["daily"] == [{k: duck.to_jsonable(v) for k, v in row.items()} for row in daily]
    assert body["sources"] == [{k: duck.to_jsonable(v) for k, v in row.items()} for row in sources]
    assert {row["tenant_id"] for row in body["daily"] + body["sources"]} == {mine}
    assert body != client.get(f"/tenants/{theirs}/analytics/rollups", headers=auth).json()


def test_rollups_honour_the_range(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    url = f"/tenants/{mine}/analytics/rollups"
    before = (DAY - timedelta(days=1)).isoformat()
    empty = client.get(url, params={"start": before, "end": before}, headers=auth)
    assert empty.json() == {"daily": [], "sources": []}
    only = client.get(url, params={"start": DAY.isoformat(), "end": DAY.isoformat()}, headers=auth)
    assert [row["day"] for row in only.json()["daily"]] == [DAY.isoformat()]
    backwards = client.get(url, params={"start": DAY.isoformat(), "end": before}, headers=auth)
    assert backwards.status_code == 400


def test_analytics_needs_the_admin_token_and_a_known_tenant(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    assert (
        client.post(f"/tenants/{mine}/analytics/sql", json={"sql": "SELECT 1"}).status_code == 401
    )
    assert client.get(f"/tenants/{mine}/analytics/rollups").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get(f"/tenants/{mine}/analytics/rollups", headers=wrong).status_code == 401
    unknown = client.post("/tenants/nobody/analytics/sql", json={"sql": "SELECT 1"}, headers=auth)
    assert unknown.status_code == 404
