"""A month's parts change atomically: a reader globbing the folder, as the DuckDB views
do, sees the month before a change or after it, never both."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.analytics import months
from warehouse.analytics.layout import days_metadata, month_dir, part_name, parts, table_glob

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
            _rows([day]).write_parquet(draft.new_part([day]), metadata=days_metadata({day}))


def _fold(root: Path) -> None:
    """The same rows as one part."""
    with months.rewriting(root, TABLE, TENANT, MONTH) as draft:
        _rows(DAYS).write_parquet(draft.new_part(DAYS), metadata=days_metadata(set(DAYS)))


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
            _rows(DAYS).write_parquet(draft.new_part(DAYS))
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert parts(month_dir(tmp_path, TABLE, TENANT, MONTH)) == before
    folder = month_dir(tmp_path, TABLE, TENANT, MONTH).parent
    assert len([p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]) == 1
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_part_rewritten_with_the_same_days_is_replaced_in_place(tmp_path: Path) -> None:
    _split(tmp_path)
    folder = month_dir(tmp_path, TABLE, TENANT, MONTH)
    generation = folder.resolve()
    pattern = table_glob(tmp_path, TABLE, TENANT)
    counts: list[int] = []
    done = threading.Event()

    def read() -> None:
        with duckdb.connect() as conn:
            while not done.is_set():
                row = conn.execute(f"SELECT count(*) FROM read_parquet('{pattern}')")
                counts.append(row.fetchone()[0])  # type: ignore[index]

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(150):
            with months.rewriting(tmp_path, TABLE, TENANT, MONTH) as draft:
                second = next(p for p in draft.current if p.days == {DAYS[1]})
                for part in draft.current:
                    if part is not second:
                        draft.keep(part)
                path = draft.new_part([DAYS[1]], instead_of=second)
                _rows([DAYS[1]]).write_parquet(path, metadata=days_metadata({DAYS[1]}))
            assert draft.published(path) == second.path
    finally:
        done.set()
        reader.join()

    assert len(counts) > 50
    assert set(counts) == {3}, sorted(set(counts))
    # No new generation: the same folder, the same three parts, nothing left beside them.
    assert folder.resolve() == generation
    assert [p.days for p in parts(folder)] == [{d} for d in DAYS]
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted(
        [folder.name, generation.name, f".{folder.name}.lock"]
    )


def test_a_new_day_joins_the_month_without_a_new_generation(tmp_path: Path) -> None:
    _split(tmp_path)
    folder = month_dir(tmp_path, TABLE, TENANT, MONTH)
    generation = folder.resolve()
    later = date(2025, 6, 5)
    with months.rewriting(tmp_path, TABLE, TENANT, MONTH) as draft:
        for part in draft.current:
            draft.keep(part)
        path = draft.new_part([later])
        _rows([later]).write_parquet(path, metadata=days_metadata({later}))
    assert folder.resolve() == generation
    assert [p.days for p in parts(folder)] == [{d} for d in [*DAYS, later]]
    assert draft.published(path).parent == folder


def test_a_part_s_days_are_read_from_its_name_without_opening_it(tmp_path: Path) -> None:
    held = [date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 30)]
    with months.rewriting(tmp_path, TABLE, TENANT, MONTH) as draft:
        # No metadata: the name alone says which days the part holds.
        _rows(held).write_parquet(draft.new_part(held))
    (part,) = parts(month_dir(tmp_path, TABLE, TENANT, MONTH))
    assert part.days == set(held)
    assert part.path.name.endswith(".20000003.parquet")


def test_a_part_named_before_names_carried_days_is_read_from_its_metadata(
    tmp_path: Path,
) -> None:
    folder = month_dir(tmp_path, TABLE, TENANT, MONTH)
    folder.mkdir(parents=True)
    _rows(DAYS).write_parquet(
        folder / "2025-06-01.0badc0de.parquet", metadata=days_metadata(set(DAYS))
    )
    assert [p.days for p in parts(folder)] == [set(DAYS)]


def test_a_part_holds_the_days_of_one_month() -> None:
    with pytest.raises(ValueError, match="one month"):
        part_name(frozenset({date(2025, 6, 30), date(2025, 7, 1)}), "0badc0de")
