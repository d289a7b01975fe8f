"""The steward's --where filter, evaluated on typed values.

Sources are read as text so no digit is lost, but a steward writes
``"月日均存款" >= 50000``: the filter runs over a projection where amounts and
plain numbers are DOUBLE and dates are DATE, under the original column names.
The same projection re-checks canaries and marked values, so neither can
fall outside the export's own filter.
"""

from __future__ import annotations

import re
from typing import Sequence

import duckdb

from canary.errors import SchemaError, safe_detail
from canary.kinds import Kind
from forensics.coltypes import ColumnType
from forensics.duck import qident
from forensics.markplan import EPOCH, MarkColumn, amount_clean_sql, units_sql

_NUMERIC = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_TEXT_KINDS = (Kind.IDNO, Kind.PHONE, Kind.CUSTNO, Kind.ACCOUNT, Kind.EMAIL, Kind.NAME, Kind.ADDRESS)


def numeric_columns(names: Sequence[str], samples: Sequence[Sequence[str]]) -> set[str]:
    """Columns whose sampled values are all plain numbers."""
    out = set()
    for n, vals in zip(names, samples):
        vals = [v.strip() for v in vals if v is not None and v.strip()]
        if vals and all(_NUMERIC.match(v) for v in vals):
            out.add(n)
    return out


def typed_projection(types: Sequence[ColumnType], numeric: set[str], source_alias: str = "") -> str:
    """SELECT-list that exposes each column, typed, under its own name."""
    parts = []
    pre = f"{source_alias}." if source_alias else ""
    for t in types:
        col = pre + qident(t.name)
        if t.kind in (Kind.DATE, Kind.BIRTHDATE):
            expr = f"({EPOCH} + CAST({units_sql(col, MarkColumn(t.name, 'date', 0, 2))} AS INTEGER))"
        elif t.kind in (Kind.AGE, Kind.AMOUNT) or (t.name in numeric and t.kind not in _TEXT_KINDS):
            expr = f"TRY_CAST({amount_clean_sql(col)} AS DOUBLE)"
        else:
            expr = col
        parts.append(f"{expr} AS {qident(t.name)}")
    return ", ".join(parts)


def check_where(con: duckdb.DuckDBPyConnection, where: str, table: str, types: Sequence[ColumnType],
                numeric: set[str], *, path: str | None = None) -> None:
    """Bind the filter once on an empty result so a mistake is one clear line
    (naming ``path``, the source)."""
    if ";" in where:
        raise SchemaError("--where must be a single SQL condition (no ';')", path=path)
    try:
        con.execute(f"SELECT count(*) FROM (SELECT {typed_projection(types, numeric)} FROM {table} LIMIT 0) "
                    f"WHERE ({where})").fetchall()
    except duckdb.Error as e:
        raise SchemaError(f"--where does not apply: {safe_detail(e, names={t.name for t in types})}",
                          path=path) from None


def where_flag(where: str | None, types: Sequence[ColumnType], numeric: set[str], table: str,
               key_cols: str) -> str:
    """SQL selecting ``key_cols`` and ``__ok`` (the filter holds) from ``table``."""
    cond = f"coalesce(({where}), false)" if where else "true"
    return (f"SELECT {key_cols}, {cond} AS __ok FROM "
            f"(SELECT {key_cols}, {typed_projection(types, numeric)} FROM {table})")
