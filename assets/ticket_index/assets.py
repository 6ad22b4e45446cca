"""ticket_history_index: incremental per tenant, measured on the tenant's own labels."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.partitions import tenants
from assets.resources import PostgresResource, WarehouseResource
from assets.ticket_index import quality
from flows import embedding
from flows.hybrid import HybridIndex
from flows.retrieval import Bm25Index, tokenize
from warehouse.analytics import ticket_index

GROUP = "ticket_index"


@asset(partitions_def=tenants, group_name=GROUP, kinds={"python", "parquet"})
def ticket_history_index(
    context: AssetExecutionContext, postgres: PostgresResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """The tenant's BM25 index and embeddings over ticket_history (subject, description,
    resolution), persisted under the warehouse folder; only tickets changed since the last
    version are re-read and embedded (all of them when the weights are refitted)."""
    tenant_id = context.partition_key
    with postgres.open() as db, db.tenant(tenant_id) as conn:
        refresh = ticket_index.refresh(conn, warehouse.root, tenant_id, tokenize, embedding)
        labels = refresh.tokens.select("ticket_id", "category", "duplicates").to_dicts()
        indexed = {row["ticket_id"] for row in labels}
        duplicates = {
            row["ticket_id"]: set(row["duplicates"]) & indexed
            for row in labels
            if set(row["duplicates"]) & indexed
        }
        categories = {row["ticket_id"]: row["category"] for row in labels if row["category"]}
        queries = quality.sample(duplicates.keys() | categories.keys())
        texts = {
            r["ticket_id"]: f"{r['subject']}\n{r['description']}".strip()
            for r in conn.execute(
                "SELECT ticket_id, subject, description FROM ticket_history"
                " WHERE ticket_id = ANY(%s)",
                (queries,),
            )
        }
    loaded = ticket_index.load(warehouse.root, tenant_id)
    assert loaded is not None and loaded.fitted is not None
    index = HybridIndex(
        Bm25Index(loaded.ids, loaded.model, loaded.vocab),
        loaded.ids,
        ticket_index.vectors(loaded.tokens),
        loaded.fitted.weights,
    )
    recall = quality.duplicate_recall(index, texts, duplicates)
    precision = quality.category_precision(index, texts, categories)
    context.log.info(
        "%s: %d indexed, %d removed, %d in index",
        tenant_id,
        refresh.indexed,
        refresh.removed,
        refresh.manifest.rows,
    )
    metadata: dict[str, MetadataValue] = {
        "rows_indexed": MetadataValue.int(refresh.indexed),
        "rows_removed": MetadataValue.int(refresh.removed),
        "rows_total": MetadataValue.int(refresh.manifest.rows),
        "rebuilt": MetadataValue.bool(refresh.rebuilt),
        "embeddings_refitted": MetadataValue.bool(refresh.refitted),
        "embedding_model": MetadataValue.text(embedding.MODEL),
        "version": MetadataValue.text(refresh.manifest.version),
        "duplicate_queries": MetadataValue.int(sum(tid in duplicates for tid in texts)),
        "category_queries": MetadataValue.int(sum(tid in categories for tid in texts)),
    }
    if recall is not None:
        metadata["duplicate_recall_at_10"] = MetadataValue.float(recall)
    if precision is not None:
        metadata["category_precision_at_5"] = MetadataValue.float(precision)
    return MaterializeResult(metadata=metadata)
