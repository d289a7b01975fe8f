"""The canary.prf PRF evaluated inside DuckDB, a column at a time.

HMAC-SHA256(K, m) = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)). DuckDB has
sha256 over BLOBs, so HMAC is two calls; the pads travel as session variables
(never as SQL text, which could end up in an error message or a log) or as
columns of a small key table when many exports are scored at once. A test
checks the SQL against canary.prf.Key.mac on random inputs.
"""

from __future__ import annotations

import duckdb

from canary.prf import Key


def set_key(con: duckdb.DuckDBPyConnection, name: str, key: Key) -> None:
    """Make ``key`` available to :func:`hmac_hex` under ``name``."""
    if not name.isidentifier():
        raise ValueError("key variable names must be identifiers")
    ipad, opad = key.hmac_pads()
    con.execute(f"SET VARIABLE {name}_i = ?::BLOB", [ipad])
    con.execute(f"SET VARIABLE {name}_o = ?::BLOB", [opad])


def hmac_hex(label: str, message_sql: str, *, var: str | None = None,
             ipad_sql: str | None = None, opad_sql: str | None = None) -> str:
    """SQL for the hex HMAC of ``label|message`` (64 hex characters).

    Either ``var`` names a key set with :func:`set_key`, or ``ipad_sql`` and
    ``opad_sql`` are BLOB expressions (columns of a key table).
    """
    if "|" in label or "'" in label:
        raise ValueError("bad PRF label")
    if var is not None:
        ipad_sql, opad_sql = f"getvariable('{var}_i')", f"getvariable('{var}_o')"
    if ipad_sql is None or opad_sql is None:
        raise ValueError("give a key variable or pad expressions")
    data = f"encode('{label}|' || ({message_sql}))"
    return f"sha256({opad_sql} || from_hex(sha256({ipad_sql} || {data})))"


def digest64(label: str, message_sql: str, **key) -> str:
    """SQL for Key.digest64: the first 8 bytes of the HMAC as a UBIGINT."""
    return f"('0x' || substr({hmac_hex(label, message_sql, **key)}, 1, 16))::UBIGINT"
