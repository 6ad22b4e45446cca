"""The persisted per-tenant similar-ticket index: tokens and an embedding per ticket, the
embedding weights, plus a BM25 model.

    ticket_index/tenant_id=<t>/CURRENT             name of the live version
    ticket_index/tenant_id=<t>/v-<stamp>/tokens.parquet   tokens and embedding per ticket
    ticket_index/tenant_id=<t>/v-<stamp>/embedding.npz    the weights they were made with
    ticket_index/tenant_id=<t>/v-<stamp>/bm25/     bm25s model files
    ticket_index/tenant_id=<t>/v-<stamp>/manifest.json

Embeddings live here, not in a database table: the flow searches them in memory beside
the BM25 matrix it already loads from this folder, so a query costs no round trip and a
tenant always gets its full k (a shared vector index filtered by tenant does not promise
that), and they are computed once per new or changed ticket, like its tokens. Their
weights are fitted on the tenant's whole history; they are refitted, and every ticket
re-embedded, only when the history has grown REFIT_GROWTH-fold since, so each ticket is
embedded a bounded number of times over its life.

A refresh reads only the ticket_history rows changed since the indexed watermark,
tokenizes just those, drops tickets that no longer exist, and rebuilds the BM25 matrix
from the stored tokens (cheap next to reading and tokenizing every ticket). A new
version is written beside the old and CURRENT is swapped atomically, so a reader never
sees half an index. Tokenization is passed in: the query side (flows.retrieval) owns it.

Tokenization and embedding are passed in, like the tokenizer.

`apply_changes` is that refresh in memory: the Dagster asset persists its result, and the
flow (flows.indexes) applies it to the artifact it loaded and then to its own copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import bm25s
import numpy as np
import polars as pl

from warehouse.analytics.layout import replacing, ticket_index_dir
from warehouse.db import TenantConnection

Tokenizer = Callable[[str], list[str]]


class Embedder(Protocol):
    """flows.embedding: vectors for (subject, text) pairs under weights fitted on a corpus."""

    def fit(self, docs: Sequence[tuple[str, str]]) -> np.ndarray: ...

    def embed(self, docs: Sequence[tuple[str, str]], weights: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Fitted:
    """Embedding weights and the number of tickets they were fitted on."""

    weights: np.ndarray
    rows: int


# Refit when the history has more than doubled: each refit re-embeds every ticket, so a
# ticket is embedded about twice over the tenant's growth, and weights stay representative.
REFIT_GROWTH = 2

TOKENS_SCHEMA: dict[str, Any] = {
    "ticket_id": pl.String,
    "updated_at": pl.Datetime("us", "UTC"),
    "category": pl.String,
    "duplicates": pl.List(pl.String),
    "tokens": pl.List(pl.String),
    "embedding": pl.List(pl.Float32),
}

# updated_at is set to the writer's transaction time, so a transaction that commits after
# a refresh can carry an updated_at just below the watermark. Re-reading a margin catches
# it; rows re-read unchanged are recognised by their updated_at and not counted again.
LATE_COMMIT_MARGIN = timedelta(minutes=10)
_KEEP_VERSIONS = 2

# Duplicate links, where the importer recorded them: extra["duplicates"] = [ticket ids].
_CHANGED_SINCE = """
SELECT ticket_id, subject, description, resolution, category, updated_at,
       ARRAY(SELECT jsonb_array_elements_text(
           CASE WHEN jsonb_typeof(extra -> 'duplicates') = 'array'
                THEN extra -> 'duplicates' END)) AS duplicates
FROM ticket_history
WHERE %(since)s::timestamptz IS NULL OR updated_at > %(since)s
"""


def document_text(subject: str, description: str, resolution: str | None) -> str:
    """What a ticket is indexed by: the flow's own choice (Ticket.text and resolution)."""
    text = f"{subject}\n{description}".strip()
    return f"{text}\n{resolution or ''}"


@dataclass(frozen=True)
class Manifest:
    version: str
    rows: int
    watermark: datetime | None
    built_at: datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "rows": self.rows,
                "watermark": self.watermark.isoformat() if self.watermark else None,
                "built_at": self.built_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(
            version=data["version"],
            rows=data["rows"],
            watermark=datetime.fromisoformat(data["watermark"]) if data["watermark"] else None,
            built_at=datetime.fromisoformat(data["built_at"]),
        )


@dataclass(frozen=True)
class LoadedIndex:
    manifest: Manifest
    ids: list[str]
    model: bm25s.BM25 | None
    vocab: frozenset[str]
    tokens: pl.DataFrame  # TOKENS_SCHEMA, in the order of `ids`
    fitted: Fitted | None  # None for an index written before embeddings: refit it


@dataclass(frozen=True)
class Delta:
    """An index's tokens with ticket_history's changes applied."""

    tokens: pl.DataFrame
    indexed: int  # tickets new or changed
    removed: int  # tickets gone from ticket_history
    rows_read: int  # ticket_history rows fetched to find that out
    fitted: Fitted
    refitted: bool  # weights fitted anew and every ticket re-embedded

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed)


def vectors(tokens: pl.DataFrame) -> np.ndarray:
    """The embedding column as a (rows, dim) float32 matrix, in the frame's order."""
    if tokens.height == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = tokens["embedding"].explode().to_numpy().astype(np.float32, copy=False)
    return flat.reshape(tokens.height, -1)


def watermark(tokens: pl.DataFrame) -> datetime | None:
    """The newest updated_at in an index: changes after it are not in it yet."""
    return tokens["updated_at"].max() if tokens.height else None  # type: ignore[return-value]


@dataclass(frozen=True)
class Refresh:
    manifest: Manifest
    indexed: int  # tickets new or changed since the previous version
    removed: int  # tickets gone from ticket_history since the previous version
    rebuilt: bool
    tokens: pl.DataFrame
    fitted: Fitted
    refitted: bool


def _live_dir(root: Path, tenant_id: str) -> Path | None:
    pointer = ticket_index_dir(root, tenant_id) / "CURRENT"
    if not pointer.is_file():
        return None
    return pointer.parent / pointer.read_text().strip()


def current_manifest(root: Path, tenant_id: str) -> Manifest | None:
    live = _live_dir(root, tenant_id)
    return Manifest.from_json((live / "manifest.json").read_text()) if live else None


def _fitted(live: Path) -> Fitted | None:
    path = live / "embedding.npz"
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return Fitted(saved["weights"], int(saved["rows"]))


def load_tokens(root: Path, tenant_id: str) -> tuple[pl.DataFrame, Fitted | None]:
    live = _live_dir(root, tenant_id)
    if live is None:
        return pl.DataFrame(schema=TOKENS_SCHEMA), None
    fitted = _fitted(live)
    if fitted is None:
        return pl.DataFrame(schema=TOKENS_SCHEMA), None
    return pl.read_parquet(live / "tokens.parquet"), fitted


def load(root: Path, tenant_id: str) -> LoadedIndex | None:
    """The live index, for flows.retrieval.Bm25Index(ids, model, vocab)."""
    live = _live_dir(root, tenant_id)
    if live is None:
        return None
    manifest = Manifest.from_json((live / "manifest.json").read_text())
    fitted = _fitted(live)
    if fitted is None:
        tokens = pl.DataFrame(schema=TOKENS_SCHEMA)
        return LoadedIndex(manifest, [], None, frozenset(), tokens, None)
    tokens = pl.read_parquet(live / "tokens.parquet")
    ids = tokens["ticket_id"].to_list()
    if not (live / "bm25").is_dir():
        return LoadedIndex(manifest, ids, None, frozenset(), tokens, fitted)
    model = bm25s.BM25.load(str(live / "bm25"))
    vocab = frozenset(token for token in model.vocab_dict if token)
    return LoadedIndex(manifest, ids, model, vocab, tokens, fitted)


def _write_version(root: Path, tenant_id: str, tokens: pl.DataFrame, fitted: Fitted) -> Manifest:
    built_at = datetime.now(UTC)
    base = ticket_index_dir(root, tenant_id)
    version = f"v-{built_at:%Y%m%dT%H%M%S%f}"
    folder = base / version
    folder.mkdir(parents=True)
    tokens.write_parquet(folder / "tokens.parquet")
    np.savez(folder / "embedding.npz", weights=fitted.weights, rows=np.int64(fitted.rows))
    corpus = tokens["tokens"].to_list()
    if any(corpus):
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        model.save(str(folder / "bm25"), show_progress=False)
    manifest = Manifest(version, tokens.height, watermark(tokens), built_at)
    (folder / "manifest.json").write_text(manifest.to_json())
    with replacing(base / "CURRENT") as tmp:
        tmp.write_text(version)
    # A reader that resolved CURRENT a moment ago may still be opening the previous one.
    for old in sorted(p for p in base.iterdir() if p.is_dir())[:-_KEEP_VERSIONS]:
        shutil.rmtree(old)
    return manifest


def _count(conn: TenantConnection) -> int:
    row = conn.execute("SELECT count(*) AS n FROM ticket_history").fetchone()
    assert row is not None
    return int(row["n"])


def apply_changes(
    conn: TenantConnection,
    tokens: pl.DataFrame,
    since: datetime | None,
    tokenize: Tokenizer,
    embedder: Embedder,
    fitted: Fitted | None,
) -> Delta:
    """`tokens` (TOKENS_SCHEMA, indexed up to `since` with `fitted`; empty and None for a
    first build) brought up to date with ticket_history, in memory; `conn` is the tenant's.

    Reads the rows changed since `since` (less LATE_COMMIT_MARGIN) and a count; every
    ticket id only when the count says some indexed ticket is gone. Reads every row, and
    refits the embedding weights, when there are none yet or the history has grown
    REFIT_GROWTH-fold since they were fitted."""
    # Counted before the read: a deletion between the two shows at the next delta (and a
    # deleted ticket is never shown: the flow reads its hits' rows).
    count = _count(conn)
    refit = fitted is None or count > REFIT_GROWTH * fitted.rows
    if refit:
        tokens, since = pl.DataFrame(schema=TOKENS_SCHEMA), None
    after = since - LATE_COMMIT_MARGIN if since else None
    fetched = conn.execute(_CHANGED_SINCE, {"since": after}).fetchall()
    rows_read = len(fetched)
    known = dict(zip(tokens["ticket_id"].to_list(), tokens["updated_at"].to_list(), strict=True))
    changed = [r for r in fetched if known.get(r["ticket_id"]) != r["updated_at"]]
    # Every row not fetched was indexed already, so a count that matches the ids known
    # plus those fetched means nothing was deleted.
    still_there = tokens
    if count != len(known.keys() | {r["ticket_id"] for r in fetched}):
        existing = [r["ticket_id"] for r in conn.execute("SELECT ticket_id FROM ticket_history")]
        rows_read += len(existing)
        still_there = tokens.filter(pl.col("ticket_id").is_in(existing))
    removed = tokens.height - still_there.height
    docs = [
        (r["subject"], document_text(r["subject"], r["description"], r["resolution"]))
        for r in changed
    ]
    if refit or fitted is None:
        fitted = Fitted(embedder.fit(docs), len(docs))
    if not changed and removed == 0:
        return Delta(tokens, 0, 0, rows_read, fitted, refit)
    kept = still_there.filter(~pl.col("ticket_id").is_in([r["ticket_id"] for r in changed]))
    vectors = embedder.embed(docs, fitted.weights)
    fresh = pl.from_dicts(
        [
            {
                "ticket_id": r["ticket_id"],
                "updated_at": r["updated_at"],
                "category": r["category"],
                "duplicates": list(r["duplicates"]),
                "tokens": tokenize(text),
            }
            for r, (_, text) in zip(changed, docs, strict=True)
        ],
        schema={name: kind for name, kind in TOKENS_SCHEMA.items() if name != "embedding"},
    ).with_columns(pl.Series("embedding", vectors).cast(TOKENS_SCHEMA["embedding"]))
    merged = pl.concat([kept, fresh]).sort("ticket_id")
    return Delta(merged, len(changed), removed, rows_read, fitted, refit)


def refresh(
    conn: TenantConnection,
    root: Path,
    tenant_id: str,
    tokenize: Tokenizer,
    embedder: Embedder,
) -> Refresh:
    """Brings the tenant's index up to date with ticket_history; `conn` is the tenant's."""
    previous = current_manifest(root, tenant_id)
    old, fitted = load_tokens(root, tenant_id)
    since = previous.watermark if previous else None
    delta = apply_changes(conn, old, since, tokenize, embedder, fitted)
    if previous is not None and not delta.changed and not delta.refitted:
        return Refresh(previous, 0, 0, False, old, delta.fitted, False)
    manifest = _write_version(root, tenant_id, delta.tokens, delta.fitted)
    return Refresh(
        manifest, delta.indexed, delta.removed, True, delta.tokens, delta.fitted, delta.refitted
    )
