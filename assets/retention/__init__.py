"""Retention: PostgreSQL rows, Parquet partitions, Redis streams, Dagster run history."""
