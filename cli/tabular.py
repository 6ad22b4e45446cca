"""Rows from CSV or JSON-lines files, as dictionaries keyed by the file's own column names."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


class FileFormatError(ValueError):
    """The file cannot be read as rows; the message names the file and the line."""


def _csv_records(path: Path) -> Iterator[tuple[int, Record]]:
    # Some exports (Jira) repeat a column, e.g. one "Labels" column per label: the values
    # of repeated columns are gathered into a list instead of the last one winning.
    csv.field_size_limit(16 * 1024 * 1024)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        repeated = {name for name in names if names.count(name) > 1}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            record: Record = {name: [] for name in repeated}
            for name, cell in zip(names, row, strict=False):
                if name in repeated:
                    if cell.strip():
                        record[name].append(cell)
                else:
                    record[name] = cell
            yield reader.line_num, record


def _json_records(path: Path) -> Iterator[tuple[int, Record]]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FileFormatError(
                    f"{path.name} line {number}: not JSON ({exc.msg}); "
                    "JSON files must hold one object per line"
                ) from exc
            if not isinstance(value, dict):
                raise FileFormatError(f"{path.name} line {number}: expected a JSON object")
            yield number, value


def read_records(path: Path) -> Iterator[tuple[int, Record]]:
    """(line number, record) pairs; the format follows the file name's suffix."""
    if path.suffix.lower() in JSON_SUFFIXES:
        return _json_records(path)
    return _csv_records(path)


def columns(path: Path) -> list[str]:
    """The column names: a CSV header, or every key of any JSON object, first seen first."""
    if path.suffix.lower() in JSON_SUFFIXES:
        seen: dict[str, None] = {}
        for _, record in _json_records(path):
            seen.update(dict.fromkeys(record))
        return list(seen)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]
