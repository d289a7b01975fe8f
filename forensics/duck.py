"""Small DuckDB helpers shared by forensics and tracer."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa


def qident(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def value_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string or binary Arrow array as NumPy views,
    slice-aware: row i's bytes are ``data[offsets[i]:offsets[i + 1]]``."""
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return offsets, (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))


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


def is_interrupt(e: BaseException) -> bool:
    """Ctrl-C as DuckDB reports it when it arrives inside a query (not a
    defect of the file or the store, whatever the query was doing)."""
    return isinstance(e, (KeyboardInterrupt, duckdb.InterruptException)) or (
        isinstance(e, RuntimeError) and "interrupted" in str(e).lower())
