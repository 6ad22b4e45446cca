"""The export hands PostgreSQL raw columns and does the conversions itself: each must give
what PostgreSQL would have computed, for awkward values too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest

from aiops.crypto import SecretBox
from tests.analytics import seed
from warehouse.analytics.export import ENHANCEMENTS, copy_out, export_partition
from warehouse.db import Database

# What the export computed in SQL before it moved to Python: the oracle.
_PG_OUTCOMES = """
SELECT event_id,
       CASE WHEN jsonb_typeof(context -> 'sources') = 'object' THEN coalesce((
           SELECT json_agg(json_build_object(
                      'source', s.key,
                      'outcome', btrim(split_part(s.value, ':', 1), E' \\t\\r\\n'))
                  ORDER BY s.key COLLATE "C")
           FROM jsonb_each_text(context -> 'sources') AS s), '[]') ELSE '[]' END AS outcomes,
       note_posted_at, received_at, started_at, finished_at, created_at, updated_at
FROM enhancement_history WHERE created_at >= %s AND created_at < %s
"""

# As JSON text: numbers keep the spelling PostgreSQL normalises (1.50, 1e400, 1.5E2).
CONTEXTS = [
    "{}",
    '{"sources": "not an object"}',
    '{"sources": null}',
    '{"sources": {}}',
    '{"sources": {"kb": "failed: 503: upstream", "zeta": " ok \\t", "a\\"quote": "skipped:x"}}',
    '{"sources": {"Ünïcode-é": "empty", "Z": "ok", "a": "ok", "ß\\\\back": "failed"}}',
    '{"sources": {"n": 5, "f": 1.50, "e": 1e400, "g": 1.5E2, "b": true, "z": null,'
    ' "o": {"x": [1, "y"]}, "l": [1, 2.50, "ü\\n", {"k": false}]}}',
    '{"sources": {"kb": "ok", "similar_tickets": "ok"}}',
    '{"sources": {"kb": "ok", "similar_tickets": "ok"}}',
]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_sources_and_timestamps_match_what_postgres_computes(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=6)
    start, end = seed.day_bounds(day)
    moments = [
        start,
        start + timedelta(microseconds=1),
        end - timedelta(microseconds=1),
        start + timedelta(hours=13, microseconds=999_999),
    ]
    odd = [
        _moment("1969-12-31T23:59:59.999999+00:00"),
        _moment("2099-12-31T23:59:59.999999+00:00"),
        _moment("2001-02-03T04:05:06.000007-07:00"),
        None,
    ]
    with db.tenant(tenant_id) as conn:
        for i, context in enumerate(CONTEXTS):
            created = moments[i % len(moments)]
            conn.execute(
                """
                INSERT INTO enhancement_history (
                    tenant_id, event_id, ticket_id, source, kind, status, context,
                    note_posted_at, received_at, started_at, finished_at, created_at,
                    updated_at)
                VALUES (current_setting('app.current_tenant_id', true), %s, 'T-1',
                        'servicedesk', 'created', 'succeeded', %s::jsonb, %s, %s, %s, %s, %s, %s)
                """,
                (
                    f"e{i}",
                    context,
                    odd[i % len(odd)],
                    odd[(i + 1) % len(odd)],
                    created + timedelta(microseconds=123_457),
                    odd[(i + 2) % len(odd)],
                    created,
                    created + timedelta(seconds=59, microseconds=999_999),
                ),
            )
        exported = export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)
        expected = {r["event_id"]: r for r in conn.execute(_PG_OUTCOMES, (start, end))}

    frame = pl.read_parquet(exported.path)
    assert exported.rows == len(CONTEXTS) == frame.height
    stamps = (
        "note_posted_at",
        "received_at",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    )
    for row in frame.iter_rows(named=True):
        want = expected[row["event_id"]]
        assert row["context_sources"] == json.loads(json.dumps(want["outcomes"])), row["event_id"]
        for name in stamps:
            assert row[name] == want[name], (row["event_id"], name)


def test_copy_out_reports_a_failing_statement_and_leaves_the_connection_usable(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    seed.tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn, pytest.raises(psycopg.errors.UndefinedColumn):
        copy_out(conn, b"COPY (SELECT no_such_column FROM enhancement_history) TO STDOUT")
    with db.tenant(tenant_id) as conn:
        with pytest.raises(psycopg.ProgrammingError, match="not a COPY TO STDOUT"):
            copy_out(conn, b"SELECT 1")
        assert copy_out(conn, b"COPY (SELECT 1 AS a, 'x' AS b) TO STDOUT (FORMAT csv)") == (
            b"1,x\n"
        )
