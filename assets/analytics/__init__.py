"""The analytics warehouse: Parquet exports, rollups, the DuckDB catalogue."""
