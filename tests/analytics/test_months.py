"""A month's parts change atomically: a reader globbing the folder, as the DuckDB views
do, sees the month before a change or after it, never both."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from warehouse.analytics import months
from warehouse.analytics.layout import days_metadata, month_dir, parts, table_glob

TABLE = "enhancement_history"
TENANT = "acme"
MONTH = date(2025, 6, 1)
DAYS = [date(2025, 6, d) for d in (1, 2, 3)]


def _rows(days: list[date]) -> pl.DataFrame:
    return pl.DataFrame({"tenant_id": [TENANT] * len(days), "day": days})


def _split(root: Path) -> None:
    """The month as one part per day."""
    with months.rewriting(root, TABLE, TENANT, MONTH) as draft:
        for day in DAYS:
            _rows([day]).write_parquet(draft.new_part(day), metadata=days_metadata({day}))


def _fold(root: Path) -> None:
    """The same rows as one part."""
    with months.rewriting(root, TABLE, TENANT, MONTH) as draft:
        _rows(DAYS).write_parquet(draft.new_part(DAYS[0]), metadata=days_metadata(set(DAYS)))


def test_a_reader_never_sees_two_generations_of_a_month(tmp_path: Path) -> None:
    _split(tmp_path)
    pattern = table_glob(tmp_path, TABLE, TENANT)
    counts: list[int] = []
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        with duckdb.connect() as conn:
            while not done.is_set():
                try:
                    row = conn.execute(f"SELECT count(*) FROM read_parquet('{pattern}')")
                    counts.append(row.fetchone()[0])  # type: ignore[index]
                except duckdb.IOException as exc:
                    # A file listed just before a swap may be gone by the time it is opened.
                    failures.append(str(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(150):
            _fold(tmp_path)
            _split(tmp_path)
    finally:
        done.set()
        reader.join()

    assert len(counts) > 50
    assert set(counts) == {3}, sorted(set(counts))
    assert all("No files found" in f or "No such file" in f for f in failures), failures[:3]
    assert [p.days for p in parts(month_dir(tmp_path, TABLE, TENANT, MONTH))] == [{d} for d in DAYS]


def test_a_failed_change_leaves_the_month_as_it_was(tmp_path: Path) -> None:
    _split(tmp_path)
    before = parts(month_dir(tmp_path, TABLE, TENANT, MONTH))
    try:
        with months.rewriting(tmp_path, TABLE, TENANT, MONTH) as draft:
            _rows(DAYS).write_parquet(draft.new_part(DAYS[0]))
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert parts(month_dir(tmp_path, TABLE, TENANT, MONTH)) == before
    folder = month_dir(tmp_path, TABLE, TENANT, MONTH).parent
    assert len([p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]) == 1
