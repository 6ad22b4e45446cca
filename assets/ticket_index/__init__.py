"""Similar-ticket search: the persisted per-tenant BM25 index and its quality."""
