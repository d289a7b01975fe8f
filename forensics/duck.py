"""Small DuckDB helpers shared by forensics and tracer."""

from __future__ import annotations

import pyarrow as pa


def insert_rows(con, table: str, names: list[str], rows: list, types: list, *, into: str | None = None) -> None:
    """Load Python rows through Arrow: DuckDB's executemany costs milliseconds a
    row (and tries to import pandas each time), Arrow a few microseconds.

    Without ``into``, (re)creates TEMP TABLE ``table``; with ``into``, appends
    to that existing table (e.g. ``store.canaries``) instead.
    """
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    data = pa.table({n: pa.array(list(c), type=t) for n, c, t in zip(names, cols, types)})
    con.register("__tracer_rows", data)
    try:
        if into:
            con.execute(f"INSERT INTO {into} SELECT * FROM __tracer_rows")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM __tracer_rows")
    finally:
        con.unregister("__tracer_rows")
