"""Bulk import of a tenant's tickets, KB articles or hosts from a file.

The whole file is checked before anything is written, so a bad row never leaves half an
import behind; then rows go in by batches, one transaction each, under the tenant's RLS.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Generic, TypeVar

from tqdm import tqdm

from aiops.events import Ticket
from cli import mapping
from cli.tabular import FileFormatError, columns, read_records
from itsm import registry
from warehouse import knowledge, tenants, tickets
from warehouse.db import Database, TenantConnection

T = TypeVar("T")

_SHOWN_ERRORS = 5


class ImportRejected(ValueError):
    """The file cannot be imported as it is; the message lists what to fix."""


@dataclass(frozen=True)
class Kind(Generic[T]):
    schema: mapping.Schema
    convert: Callable[[Mapping[str, Any], mapping.ColumnMap], T]
    upsert: Callable[[TenantConnection, Sequence[T]], int]
    unit: str


def _upsert_tickets(conn: TenantConnection, rows: Sequence[Ticket]) -> int:
    return tickets.upsert_tickets(conn, _as_webhooks_name_them(conn, rows), source="import")


def _as_webhooks_name_them(conn: TenantConnection, rows: Sequence[Ticket]) -> Sequence[Ticket]:
    """Ids as the tenant's ITSM sends them in webhooks, where its exports show them
    otherwise (Freshservice: "INC-42" in the CSV, 42 in webhooks and the API), so an
    imported ticket and the same ticket arriving later are one row."""
    summary = tenants.read_summary(conn)
    plugin = registry.PLUGINS.get(summary.itsm_source) if summary else None
    canonical: Callable[[str], str] | None = getattr(plugin, "ticket_id", None)
    if canonical is None:
        return rows
    return [t.model_copy(update={"id": canonical(t.id)}) for t in rows]


TICKETS: Kind[Ticket] = Kind(mapping.TICKETS, mapping.to_ticket, _upsert_tickets, "tickets")
ARTICLES: Kind[knowledge.Article] = Kind(
    mapping.ARTICLES, mapping.to_article, knowledge.upsert_articles, "articles"
)
HOSTS: Kind[knowledge.Host] = Kind(mapping.HOSTS, mapping.to_host, knowledge.upsert_hosts, "hosts")


def check(path: Path, kind: Kind[T]) -> tuple[mapping.ColumnMap, int]:
    """The column map and the number of rows, or ImportRejected naming the bad rows."""
    count = 0
    errors: list[str] = []
    try:
        cmap = mapping.resolve(kind.schema, columns(path), path.name)
        for line, record in read_records(path):
            count += 1
            try:
                kind.convert(record, cmap)
            except mapping.RecordError as exc:
                errors.append(f"line {line}: {exc}")
    except (mapping.MappingError, FileFormatError) as exc:
        raise ImportRejected(str(exc)) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRejected(f"{path.name} is not a UTF-8 CSV or JSON-lines file: {exc}") from exc
    if errors:
        shown = "\n  ".join(errors[:_SHOWN_ERRORS])
        hidden = len(errors) - _SHOWN_ERRORS
        more = f"\n  ... and {hidden} more" if hidden > 0 else ""
        raise ImportRejected(
            f"{path.name}: {len(errors)} of {count} rows cannot be imported; nothing was "
            f"written. Fix these and run the import again:\n  {shown}{more}"
        )
    return cmap, count


def write(
    db: Database,
    tenant_id: str,
    path: Path,
    kind: Kind[T],
    cmap: mapping.ColumnMap,
    total: int,
    batch_size: int,
    progress: bool = True,
) -> int:
    """Upserts every row; returns how many. Re-running the same file changes nothing."""
    written = 0
    rows = (kind.convert(record, cmap) for _, record in read_records(path))
    with tqdm(total=total, unit=f" {kind.unit}", disable=not progress) as bar:
        while batch := list(islice(rows, batch_size)):
            with db.tenant(tenant_id) as conn:
                written += kind.upsert(conn, batch)
            bar.update(len(batch))
    return written
