"""Tenants as Dagster partitions."""
