"""The DuckDB type of each Polars column type the warehouse writes."""

from __future__ import annotations

from typing import Any

import polars as pl


def duck_type(dtype: Any) -> str:
    """The DuckDB type a Polars column of `dtype` reads back as from Parquet."""
    simple = {
        pl.String: "VARCHAR",
        pl.Int64: "BIGINT",
        pl.Int32: "INTEGER",
        pl.Float64: "DOUBLE",
        pl.Boolean: "BOOLEAN",
        pl.Date: "DATE",
    }
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return name
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.List):
        return duck_type(dtype.inner) + "[]"
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(f'"{f.name}" {duck_type(f.dtype)}' for f in dtype.fields)
        return f"STRUCT({fields})"
    raise TypeError(f"no DuckDB type for {dtype}")
