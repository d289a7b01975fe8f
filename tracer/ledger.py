"""The ledger: a tamper-evident, append-only record of every lineage write.

Each transaction that writes lineage (init, an export, a key rotation, a
recipient change) appends one entry inside the same transaction. An entry
names the records it covers as *scopes*, ``(table, key value)`` -- one
export's row in ``exports``, its ``export_rows`` and ``canaries``; one
source's row and its ``source_identities`` -- each with its row count and a
SHA-256 digest of the scope's rows in a canonical encoding (below). Entries
chain as in a transparency log (RFC 6962, with a chain in place of the tree)::

    entry_hash = SHA-256(0x00 || "tracer-ledger/v1" || 0x00 || prev_hash || canonical JSON of the entry)
    mac        = HMAC-SHA256(key.derive("ledger/v1"), "ledger/entry|" + entry_hash)

The MAC is made with the key that was current (for a rotation: the key being
retired, so the old key vouches for the new one). Deleting, editing,
inserting or reordering any record or entry breaks a digest, the chain or a
MAC, and `verify` names the first bad one. Truncating the log to an earlier
entry keeps a valid chain: that is what publishing the head (`head`) and
`verify(head=...)` are for.

Canonical encoding of a scope (scheme ``records/v1``), computed columnar
(DuckDB sorts, Arrow hands over whole columns, hashlib digests buffers; no
Python loop over rows): rows sorted by every column in name order; columns
in name order, skipping columns that are NULL in every row of the scope (a
column added later does not disturb old digests); integers as 8-byte
little-endian values with a null mask, everything else as DuckDB's JSON text
with lengths (-1 for NULL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary.errors import KeyProblem, StoreError
from canary.prf import Key
from forensics.duck import qident, value_buffers

SCHEME = "ledger/v1"
GENESIS = "0" * 64
# The column that splits each covered table into scopes. Every lineage table
# must be listed here: `verify` reports rows of any other table as uncovered.
SCOPES: dict[str, str] = {
    "meta": "key",
    "recipients": "recipient_id",
    "sources": "source_id",
    "source_identities": "source_id",
    "exports": "export_no",
    "export_rows": "export_no",
    "canaries": "export_no",
    "contact_pool": "contact_id",  # live canaries (tracer.live)
    "contact_uses": "export_no",
    "sightings": "sighting_id",
}
_SIGNED = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")
_UNSIGNED = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_BATCH = 1 << 17


class LedgerMismatch(StoreError):
    """The lineage store does not verify: a record or ledger entry was changed."""

    exit_code = 3


@dataclass(frozen=True)
class Head:
    seq: int
    root: str  # the entry hash of the last entry
    mac: str
    key_id: str
    created_at: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Problem:
    """One thing that does not verify, located by ledger entry, table and key."""

    message: str
    seq: int | None = None
    table: str | None = None
    key: object = None

    def __str__(self) -> str:
        where = []
        if self.table is not None:
            where.append(f"{self.table} {SCOPES.get(self.table, 'key')}={self.key}")
        if self.seq is not None:
            where.append(f"ledger entry {self.seq}")
        return (", ".join(where) + ": " if where else "") + self.message


@dataclass
class Verification:
    entries: int
    records: int
    head: Head | None
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"ok": not self.problems, "entries": self.entries, "records": self.records,
                "head": self.head.to_dict() if self.head else None, "problems": [str(p) for p in self.problems]}


SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq BIGINT PRIMARY KEY,
    kind VARCHAR NOT NULL,      -- init, export, key-rotate, recipient, ...
    ref VARCHAR,                -- what the entry is about: an export id, a key id
    scopes VARCHAR NOT NULL,    -- JSON [[table, key, rows, sha256], ...]: the records covered
    prev_hash VARCHAR NOT NULL,
    entry_hash VARCHAR NOT NULL,
    key_id VARCHAR NOT NULL,    -- the key whose ledger subkey made the MAC
    mac VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
"""


# --- digests of records ----------------------------------------------------------------------

def _schema(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Every table of the attached store: its columns (name, type) in name order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = 'store' "
            "ORDER BY table_name, column_name").fetchall():
        out.setdefault(table, []).append((column, dtype))
    return out


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return "ledger" in _schema(con)


def _encode(column: str, dtype: str) -> tuple[str, str]:
    if dtype in _SIGNED:
        return f"CAST({qident(column)} AS BIGINT)", "i8"
    if dtype in _UNSIGNED:
        return f"CAST({qident(column)} AS UBIGINT)", "u8"
    return f"CAST(to_json({qident(column)}) AS VARCHAR)", "json"


class _ColumnHash:
    """Streams one column's values into hashes, independent of batch sizes."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.nulls = hashlib.sha256()
        self.values = hashlib.sha256()

    def update(self, arr: pa.Array) -> None:
        if self.tag == "json":
            lengths = pc.fill_null(pc.binary_length(arr), -1).to_numpy(zero_copy_only=False)
            self.nulls.update(lengths.astype("<i8").tobytes())
            arr = arr.cast(pa.large_string())
            offsets, data = value_buffers(arr)
            if len(arr):
                self.values.update(data[offsets[0]:offsets[-1]])
        else:
            self.nulls.update(arr.is_null().to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
            filled = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
            self.values.update(filled.astype("<" + self.tag).tobytes())

    def digest(self) -> bytes:
        return self.nulls.digest() + self.values.digest()


def scope_digest(con: duckdb.DuckDBPyConnection, table: str, key: object,
                 schema: dict[str, list[tuple[str, str]]] | None = None, rows: str | None = None) -> tuple[int, str]:
    """(rows, sha256 hex) of one scope's rows in the canonical encoding.
    ``rows``: SQL of a relation holding exactly those rows (same column names
    and types), read instead of the store: an append inside the transaction
    that wrote them reads a copy made before it far faster than the
    transaction's own uncommitted rows (4M source identities: 2.5 s, 0.6 s)."""
    keycol = SCOPES[table]
    cols = (schema if schema is not None else _schema(con)).get(table)
    if not cols:
        raise StoreError(f"the lineage store has no table {table} (run `tracer init` to upgrade it)")
    scope, params = (f"store.{table} WHERE {qident(keycol)} = ?", [key]) if rows is None else (f"({rows})", [])
    counts = con.execute(f"SELECT count(*), {', '.join(f'count({qident(c)})' for c, _ in cols)} "
                         f"FROM {scope}", params).fetchone()
    n = counts[0]
    present = [(c, t) for (c, t), k in zip(cols, counts[1:]) if k]
    h = hashlib.sha256(f"{SCHEME}/records\0{table}\0{n}\0".encode())
    if n:
        exprs = [_encode(c, t) for c, t in present]
        order = ", ".join(f"{qident(c)} ASC NULLS LAST" for c, _ in present)
        reader = con.execute(f"SELECT {', '.join(e for e, _ in exprs)} FROM {scope} "
                             f"ORDER BY {order}", params).to_arrow_reader(_BATCH)
        hashes = [_ColumnHash(tag) for _, tag in exprs]
        for batch in reader:
            for ch, arr in zip(hashes, batch.columns):
                ch.update(arr)
        for (c, _), (_, tag), ch in zip(present, exprs, hashes):
            h.update(f"{c}\0{tag}\0".encode() + ch.digest())
    return n, h.hexdigest()


# --- entries ---------------------------------------------------------------------------------

def ledger_key(key: Key) -> Key:
    return key.derive(SCHEME)


def _body(seq: int, kind: str, ref: str | None, scopes: list, key_id: str, created_at: str) -> bytes:
    return json.dumps({"seq": seq, "kind": kind, "ref": ref, "scopes": scopes, "key_id": key_id,
                       "created_at": created_at}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def entry_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(b"\x00" + SCHEME.encode() + b"\x00" + bytes.fromhex(prev_hash) + body).hexdigest()


def entry_mac(key: Key, entry_hash_hex: str) -> str:
    return ledger_key(key).mac("ledger/entry", entry_hash_hex).hex()


def _iso(ts: datetime) -> str:
    return ts.replace(microsecond=0).isoformat(sep=" ")


def append(con: duckdb.DuckDBPyConnection, key: Key, kind: str, ref: str | None,
           scopes: list[tuple[str, object]], *, now: datetime | None = None,
           rows: dict[tuple[str, object], str] | None = None) -> Head:
    """Append one entry covering ``scopes``; call inside the transaction that
    wrote them, after writing them (the digests are of what is committed).
    ``rows``: for some scopes, SQL of a relation holding exactly their rows
    (scope_digest)."""
    now = (now or datetime.now(timezone.utc).replace(tzinfo=None)).replace(microsecond=0)
    covered = []
    schema = _schema(con)
    for table, k in sorted(set(scopes), key=lambda s: (s[0], str(s[1]))):
        n, digest = scope_digest(con, table, k, schema, (rows or {}).get((table, k)))
        covered.append([table, k, n, digest])
    last = con.execute("SELECT seq, entry_hash FROM store.ledger ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = _iso(now)
    h = entry_hash(prev, _body(seq, kind, ref, covered, key.key_id, at))
    mac = entry_mac(key, h)
    con.execute("INSERT INTO store.ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, kind, ref, json.dumps(covered, separators=(",", ":")), prev, h, key.key_id, mac, now])
    return Head(seq, h, mac, key.key_id, at)


def uncovered(con: duckdb.DuckDBPyConnection) -> list[tuple[str, object]]:
    """Scopes holding rows that no ledger entry covers (for adopting a store
    made before the ledger existed, at init only)."""
    known = _expected(con)
    schema = _schema(con)
    out = []
    for table, keycol in SCOPES.items():
        if table not in schema:
            continue
        for (k,) in con.execute(f"SELECT DISTINCT {qident(keycol)} FROM store.{table}").fetchall():
            if (table, k) not in known:
                out.append((table, k))
    return out


def head(con: duckdb.DuckDBPyConnection) -> Head | None:
    row = con.execute("SELECT seq, entry_hash, mac, key_id, created_at FROM store.ledger "
                      "ORDER BY seq DESC LIMIT 1").fetchone()
    return Head(row[0], row[1], row[2], row[3], _iso(row[4])) if row else None


def _expected(con) -> dict[tuple[str, object], tuple[int, int, str]]:
    """(table, key) -> (seq, rows, digest) from the latest entry that covers it."""
    out = {}
    for seq, scopes in con.execute("SELECT seq, scopes FROM store.ledger ORDER BY seq").fetchall():
        try:
            for table, k, rows, digest in json.loads(scopes):
                out[(table, k)] = (seq, rows, digest)
        except (ValueError, TypeError):
            continue  # reported by the chain check: the entry's hash no longer matches
    return out


# --- verification ----------------------------------------------------------------------------

def verify(con: duckdb.DuckDBPyConnection, keyring: dict[str, Key], *, head_root: str | None = None) -> Verification:
    """Recompute every entry, MAC and digest. Returns the problems found, the
    first (in ledger order, then uncovered records) first; raises KeyProblem
    when a key needed to check a MAC is missing."""
    if not has_ledger(con):
        raise StoreError("the lineage store has no ledger (made by an older tracer): run `tracer init` to add one")
    problems: list[Problem] = []
    entries = con.execute("SELECT seq, kind, ref, scopes, prev_hash, entry_hash, key_id, mac, created_at "
                          "FROM store.ledger ORDER BY seq").fetchall()
    prev, roots = GENESIS, {}
    for i, (seq, kind, ref, scopes, prev_hash, stored_hash, key_id, mac, created_at) in enumerate(entries, 1):
        what = f"({kind}{' ' + ref if ref else ''})"
        if seq != i:
            problems.append(Problem(f"entry out of sequence: expected {i} {what}; an entry was deleted, "
                                    "inserted or reordered", seq))
        if prev_hash != prev:
            problems.append(Problem(f"does not chain to the entry before it {what}: an entry was deleted, "
                                    "inserted or reordered", seq))
        try:
            body = _body(seq, kind, ref, json.loads(scopes), key_id, _iso(created_at))
            recomputed = entry_hash(prev_hash, body)
        except (ValueError, TypeError):
            recomputed = None
        if recomputed != stored_hash:
            problems.append(Problem(f"the entry was edited {what}: its hash does not match", seq))
        elif not _mac_ok(keyring, key_id, stored_hash, mac, seq):
            problems.append(Problem(f"MAC does not verify with key {key_id} {what}: the entry was forged "
                                    "or re-signed", seq))
        roots[stored_hash] = seq
        prev = stored_hash
    records = _check_records(con, problems)
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    if head_root is not None:
        root = head_root.strip().lower()
        if root not in roots:
            problems.insert(0, Problem(f"the published head {root[:16]}... is not in the ledger: the store does "
                                       "not extend it (entries were removed or rewritten)"))
    h = head(con) if entries else None
    return Verification(len(entries), records, h, problems)


def _mac_ok(keyring: dict[str, Key], key_id: str, entry: str, mac: str, seq: int) -> bool:
    key = keyring.get(key_id)
    if key is None:
        raise KeyProblem(f"ledger entry {seq} is signed with key {key_id}, which is not in the key directory; "
                         "restore it or set TRACER_KEY_DIR")
    return hmac.compare_digest(entry_mac(key, entry), mac)


def _check_records(con, problems: list[Problem]) -> int:
    expected = _expected(con)
    schema = _schema(con)
    records = 0
    for table, keycol in SCOPES.items():
        if table not in schema:
            continue
        actual = dict(con.execute(f"SELECT {qident(keycol)}, count(*) FROM store.{table} GROUP BY ALL").fetchall())
        records += sum(actual.values())
        for (t, k), (seq, rows, digest) in expected.items():
            if t != table:
                continue
            n, d = scope_digest(con, table, k, schema)
            if n == 0 and rows:
                problems.append(Problem(f"{rows:,} row(s) recorded, none left (deleted)", seq, table, k))
            elif n != rows:
                change = "deleted" if n < rows else "inserted"
                problems.append(Problem(f"{n:,} row(s), the ledger recorded {rows:,} ({change})", seq, table, k))
            elif d != digest:
                problems.append(Problem(f"{n:,} row(s) as recorded but their content differs (edited)",
                                        seq, table, k))
        for k, n in actual.items():
            if (table, k) not in expected:
                problems.append(Problem(f"{n:,} row(s) that no ledger entry covers (inserted)", None, table, k))
    for name in schema:
        if name not in SCOPES and name != "ledger":
            n = con.execute(f"SELECT count(*) FROM store.{qident(name)}").fetchone()[0]
            if n:
                problems.append(Problem(f"table {name} holds {n:,} row(s) that the ledger does not cover"))
    return records
