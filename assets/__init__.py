"""The Dagster code location: one Definitions in assets.definitions, a folder per domain."""
