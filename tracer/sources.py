"""Export sources: files (forensics.readers) and any SQLAlchemy database.

A database source is a table or a query, streamed with a server-side cursor
in batches into DuckDB as text (so ID numbers and phones keep every digit),
converted column by column with Arrow, never row by row in Python. The
lineage records the source's URL without its password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from canary.errors import TracerError, UnreadableFile, UsageError, safe_detail
from forensics.readers import TableInfo, read_table

BATCH_ROWS = 50_000
_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.IGNORECASE)


@dataclass
class SourceSpec:
    """What to read: a file path, or a database URL with a table or a query."""

    location: str
    table: str | None = None
    query: str | None = None

    @property
    def is_database(self) -> bool:
        return bool(_URL.match(self.location)) and not self.location.lower().startswith("file://")


def is_database_url(location: str) -> bool:
    return SourceSpec(location).is_database


def load_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec, table: str, *, tmpdir: str | None = None
                ) -> tuple[TableInfo, str, str]:
    """Load the source into TEMP TABLE ``table``; return (info, kind, content hash)."""
    if not spec.is_database:
        if spec.table or spec.query:
            raise UsageError("--table and --query apply to database sources only")
        info = read_table(con, spec.location, table, tmpdir=tmpdir)
        return info, "file", file_hash(info.path)
    return _load_database(con, spec, table)


def file_hash(path: str | os.PathLike) -> str:
    """xxh3-128 of the bytes: a content digest (not a secret) to recognise a source seen before."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def safe_url(url: str) -> str:
    """The URL as the lineage may record it: never with a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _text_column(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Any Arrow column as text: decimals keep their scale, dates are ISO."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    if pa.types.is_null(col.type):
        return pa.array([None] * len(col), type=pa.string())
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
        try:
            return pc.cast(col, pa.string())  # text stored as bytes
        except pa.ArrowInvalid:  # real bytes: written as DuckDB writes a BLOB (\xFF escapes), as Parquet's are
            blob = pa.table({"b": col})  # noqa: F841 - DuckDB reads it by name below
            return duckdb.connect().execute("SELECT CAST(b AS VARCHAR) AS b FROM blob").to_arrow_table().column(0)
    return pc.cast(col, pa.string())


def _require_sqlite_file(url: str, shown: str) -> None:
    """SQLite creates a missing database file on connect: reading a source
    must never leave one behind (and an empty new database is not the source)."""
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:
        return  # create_engine reports it
    if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:") \
            and not u.database.startswith("file:") and not Path(u.database).expanduser().exists():
        raise TracerError("no such SQLite database file", path=shown)


def _load_database(con, spec: SourceSpec, table: str) -> tuple[TableInfo, str, str]:
    from sqlalchemy import MetaData, Table, create_engine, select, text
    from sqlalchemy.exc import SQLAlchemyError

    if bool(spec.table) == bool(spec.query):
        raise UsageError("a database source needs exactly one of --table or --query")
    shown = safe_url(spec.location)
    _require_sqlite_file(spec.location, shown)
    try:
        engine = create_engine(spec.location)
    except ModuleNotFoundError as e:  # the module's name is no customer value: say which to install
        raise TracerError(f"cannot use this database URL: its driver, Python module {e.name!r}, is not installed",
                          path=shown) from None
    except Exception as e:  # unknown dialect
        raise TracerError(f"cannot use this database URL ({safe_detail(e)})", path=shown) from None
    digest = xxhash.xxh3_128()
    rows = 0
    names: list[str] = []
    try:
        with engine.connect() as conn:
            if spec.table:
                schema, _, name = spec.table.rpartition(".")
                stmt = select(Table(name, MetaData(), schema=schema or None, autoload_with=conn))
            else:
                stmt = text(spec.query)
            result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(stmt)
            names = list(result.keys())
            created = False
            for part in result.partitions(BATCH_ROWS):
                columns = list(zip(*part)) if part else [[] for _ in names]
                arrays = [_text_column(pa.array(list(c))) for c in columns]
                batch = pa.table(dict(zip(_unique(names), arrays)))
                digest.update(_batch_bytes(batch))
                con.register("__tracer_batch", batch)
                if not created:
                    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM __tracer_batch")
                    created = True
                else:
                    con.execute(f"INSERT INTO {table} SELECT * FROM __tracer_batch")
                con.unregister("__tracer_batch")
                rows += batch.num_rows
            if not created:
                cols = ", ".join(f'CAST(NULL AS VARCHAR) AS "{n}"' for n in _unique(names))
                con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {cols} LIMIT 0")
    except SQLAlchemyError as e:
        # Names the database did not know are masked: a value typed unquoted in --query reads as one.
        raise UnreadableFile(f"cannot read from the database ({safe_detail(e, names=frozenset())})",
                             path=shown) from None
    finally:
        engine.dispose()
    what = f"table {spec.table}" if spec.table else "query"
    info = TableInfo(table, shown, _unique(names), rows, "sql", "database", None, True, [f"{what}, streamed"])
    return info, "sql", digest.hexdigest()


def _batch_bytes(batch: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_table(batch)
    return sink.getvalue().to_pybytes()


def _unique(names: list[str]) -> list[str]:
    seen, out = set(), []
    for n in names:
        base, k = str(n), 2
        while n in seen:
            n, k = f"{base}_{k}", k + 1
        seen.add(n)
        out.append(n)
    return out
