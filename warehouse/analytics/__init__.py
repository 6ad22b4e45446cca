"""The analytics warehouse: Parquet partitions by tenant and day, DuckDB over them."""
