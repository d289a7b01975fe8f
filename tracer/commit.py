"""The end of an export: the file, then its lineage, together or not at all.

``write_file`` writes the output under a temporary name (CSV, XLSX or
Parquet via tracer.writers; formula-like text neutralised) and syncs it; ``record`` writes the lineage
records and their ledger entry in one transaction, then renames the file into
place. tracer.journal makes the pair crash-safe: a process killed between the
commit and the rename has its rename finished by the next export or by
``tracer verify``; one killed before the commit leaves nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from canary.errors import TracerError, safe_detail
from canary.kinds import Kind
from canary.marks import SCHEME
from forensics.duck import insert_rows
from forensics.normalize import identity_label, normalise

from . import assemble, journal, ledger, live, store, writers
from .canaries import SHARE_PROBABILITY

# Row keys recorded per mark channel for the cells it selected but could not
# parse (or gave back to the filter); past this many the channel is recorded
# as unknown (null), and attribution trusts none of its cells to be re-marked.
UNMARKED_CAP = 2000


def write_file(ex) -> tuple[Path, str, int]:
    """Write to a temporary name beside the output, in the requested format
    (tracer.writers: CSV with a BOM or GBK, XLSX, Parquet), synced. The rows
    come in file order from tracer.assemble, which also neutralises formulas."""
    tmp = ex.pending.tmp
    spec = writers.resolve(getattr(ex.req, "format", None), getattr(ex.req, "encoding", None), ex.out)
    ex.output_spec = spec
    # CSV needs the quote prefix; XLSX cells are written as text (never formulas) and a
    # prefix would show there literally; Parquet is not opened by spreadsheets.
    ex.neutralise = ex.req.neutralise_formulas and spec.format is writers.OutputFormat.CSV
    ex.assembly = assemble.Assembly(ex, ex.neutralise)
    try:
        digest, nbytes = writers.write(ex.assembly.batches(), list(ex.out_cols), spec, tmp)
        expected = ex.n_rows + len(ex.canary_rows)
        if ex.assembly.rows_written != expected:
            raise TracerError(f"internal error: {ex.assembly.rows_written:,} rows written, expected "
                              f"{ex.n_rows:,} rows and {len(ex.canary_rows)} canaries; the file was discarded",
                              path=ex.info.path)
    except TracerError as e:
        tmp.unlink(missing_ok=True)
        if e.path is None:
            e.path = str(ex.out)
        raise
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise TracerError(f"cannot write the output ({e.strerror})", path=str(ex.out)) from None
    except (duckdb.Error, pa.ArrowException) as e:
        tmp.unlink(missing_ok=True)
        raise TracerError(f"cannot write the output ({safe_detail(e)})", path=str(ex.out)) from None
    n = ex.assembly.neutralised_rows
    if n:
        ex.notes.append(f"{n:,} row(s) had a cell starting with = + - or @ that is not a number or "
                        "phone: prefixed with ' so a spreadsheet shows it as text (formula injection)")
    return tmp, digest, nbytes


def _unmarked_row_keys(ex) -> list[list[str] | None]:
    """Per mark channel, the row keys of the exported rows whose selected
    cell was written unmarked though a value was there (it did not parse,
    or the filter's re-check gave the row back its originals); None past
    UNMARKED_CAP. Row keys are keyed digests, as in export_rows, written
    as 16 hex digits."""
    out: list[list[str] | None] = []
    held = "ids JOIN sel USING (__r)" if ex.where else "ids"
    for parts in getattr(ex, "unmarked_rows", [[] for _ in ex.mark_cols]):
        rows = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        if not len(rows):
            out.append([])
            continue
        # Marks are planned for every source row: only the exported rows' count, the cap too.
        ex.con.register("__unmarked", pa.table({"__r": rows.astype(np.int64)}))
        try:
            keys = ex.con.execute(f"SELECT DISTINCT row_key FROM {held} JOIN __unmarked USING (__r) "
                                  "ORDER BY row_key").fetchall()
        finally:
            ex.con.unregister("__unmarked")
        # hex: no long digit runs in the store's text
        out.append(None if len(keys) > UNMARKED_CAP else [f"{k:016x}" for (k,) in keys])
    return out


def record(ex, tmp: Path, digest: str, nbytes: int) -> bool:
    """One transaction (records + ledger entry, with the file's sha256);
    the synced temporary file is renamed into place after the commit, and
    recovery (tracer.journal) finishes the rename if the process dies."""
    con = ex.con
    content_hash = ex.content_hash
    canary_out = ex.assembly.canaries_written  # the canaries' cells as written to the file
    store.attach(con, ex.home)
    covered: list[tuple[str, object]] = []
    is_file = getattr(ex, "source_kind", "file") == "file"
    location = str(Path(ex.info.path).resolve()) if is_file else ex.info.path
    # A new source's identities, gathered before the transaction: the ledger's
    # digest of them reads this copy, not the transaction's own uncommitted rows.
    sid = con.execute("SELECT source_id FROM store.sources WHERE content_hash = ? AND key_id = ?",
                      [content_hash, ex.key.key_id]).fetchone()
    if sid is None:
        # An earlier export's canaries in a copy of its file are not customers (tracer.export._derived_from).
        not_canary = (" AND row_key NOT IN (SELECT row_key FROM __parent_canary_rows)"
                      if getattr(ex, "parent_canary_rows", False) else "")
        arms = " UNION ALL ".join(f"SELECT CAST({code} AS UTINYINT) AS kind, {alias} AS digest, row_key FROM ids "
                                  f"WHERE {alias} IS NOT NULL{not_canary}" for code, alias in ex.digest_columns)
        con.execute("CREATE OR REPLACE TEMP TABLE __new_identities AS "
                    + (arms or "SELECT NULL::UTINYINT AS kind, NULL::UBIGINT AS digest, NULL::UBIGINT AS row_key "
                                "WHERE false"))
    unmarked = _unmarked_row_keys(ex)
    ledger_rows: dict[tuple[str, object], str] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        rid = con.execute("SELECT recipient_id FROM store.recipients WHERE name = ?",
                          [ex.req.recipient]).fetchone()
        created = rid is None
        if created:
            rid = con.execute("SELECT coalesce(max(recipient_id), 0) + 1 FROM store.recipients").fetchone()
            con.execute("INSERT INTO store.recipients (recipient_id, name, kind, created_at) VALUES (?, ?, ?, ?)",
                        [rid[0], ex.req.recipient, None, ex.now])
            covered.append(("recipients", rid[0]))
        rid = rid[0]
        if sid is None:
            sid = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM store.sources").fetchone()[0]
            con.execute("INSERT INTO store.sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [sid, getattr(ex, "source_kind", "file"), location, content_hash, ex.key.key_id, ex.info.rows,
                         ex.info.columns, ex.now])
            identities = f"SELECT CAST({int(sid)} AS INTEGER) AS source_id, kind, digest, row_key FROM __new_identities"
            con.execute(f"INSERT INTO store.source_identities {identities}")
            ledger_rows[("source_identities", sid)] = identities
            covered += [("sources", sid), ("source_identities", sid)]
        else:
            sid = sid[0]
        eno = con.execute("SELECT coalesce(max(export_no), 0) + 1 FROM store.exports").fetchone()[0]
        params = {
            "scheme": SCHEME, "fraction": ex.req.mark_fraction,
            "mark_columns": [m.to_dict() for m in ex.mark_cols],
            "identity_columns": {k.value: c for k, c in ex.id_cols.items()},
            "column_kinds": {t.name: t.kind.value for t in ex.types if t.name in ex.out_cols},
            "code": ex.code_params,
            "canaries": sum(1 for c in ex.canary_rows if c.shared_id is None),
            "shared_canaries": sum(1 for c in ex.canary_rows if c.shared_id is not None),
            "share_probability": SHARE_PROBABILITY,
        }
        # This export's own source: the store's source record names the first
        # file seen with this content, which may be another copy, moved or gone.
        params["source"] = location
        # From a database: which table or query, so an audit can say which rows were sent
        # (a query's literals redacted as --where's are).
        if getattr(ex.req, "table", None):
            params["source_table"] = ex.req.table
        if getattr(ex.req, "query", None):
            params["source_query"] = store.redact_where(ex.req.query)
        if ex.mark_cols:  # per channel, aligned with mark_columns (tracer.export._unmarked_cells)
            params["unmarked"] = unmarked
        if getattr(ex, "derived_from", None):  # made from these exports' copies (tracer.export._derived_from)
            params["derived_from"] = ex.derived_from
            params["derived_share"] = {e: ex.derived_share[e] for e in ex.derived_from if e in ex.derived_share}
        # Earlier exports' canaries among its rows, none included: attribution takes an export
        # without this record as carrying every canary of the exports it was made from.
        if getattr(ex, "carried_canaries", None) is not None:
            params["carried_canaries"] = {e: sorted(set(nos)) for e, nos in sorted(ex.carried_canaries.items())}
        con.execute("""INSERT INTO store.exports (export_no, export_id, recipient_id, purpose, approver,
                authorization_ref, retain_until, created_at, source_id, columns, where_sql, rows, canaries, out_path,
                sha256, bytes, key_id, scheme, params)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", [
            eno, ex.export_id, rid, ex.req.purpose, ex.req.approver, ex.req.authorization,
            ex.req.retain_until, ex.now, sid, ex.out_cols,
            store.redact_where(ex.where), ex.n_rows, len(ex.canary_rows), str(ex.out), digest, nbytes,
            ex.key.key_id, SCHEME, json.dumps(params, ensure_ascii=False)])
        held = "ids JOIN sel USING (__r)" if ex.where else "ids"  # unfiltered: every source row is held
        con.execute(f"INSERT INTO store.export_rows SELECT DISTINCT ?, ids.row_key FROM {held}", [eno])
        canary_recs = []
        out_kinds = {c: ex.kind_of[c] for c in ex.out_cols}
        for i, c in enumerate(ex.canary_rows):
            values = dict(zip(ex.out_cols, canary_out.get(i, ())))
            dig = {}
            for kind in (Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.CUSTNO, Kind.ACCOUNT):
                col = next((n for n, k in out_kinds.items() if k is kind), None)
                n = normalise(kind, values.get(col)) if col else None
                dig[kind] = ex.ikey.digest64(identity_label(kind), n) if n else None
            name_col = next((n for n, k in out_kinds.items() if k is Kind.NAME), None)
            canary_recs.append([eno, i, dig[Kind.IDNO], dig[Kind.PHONE], dig[Kind.EMAIL], dig[Kind.CUSTNO],
                                dig[Kind.ACCOUNT], values.get(name_col) if name_col else None,
                                json.dumps(values, ensure_ascii=False), c.shared_id])
        if canary_recs:
            insert_rows(con, "", ["export_no", "canary_no", "idno_digest", "phone_digest", "email_digest",
                                  "custno_digest", "account_digest", "name", "row_json", "shared_id"], canary_recs,
                        [pa.int32(), pa.int32()] + [pa.uint64()] * 5 + [pa.string()] * 3, into="store.canaries")
        covered += [("exports", eno), ("export_rows", eno), ("canaries", eno)]
        covered += live.record_uses(con, ex, eno)
        ledger.append(con, ex.key, "export", ex.export_id, covered, now=ex.now, rows=ledger_rows)
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise
    ex.pending.committed = True
    try:
        ex.pending.place()
    except OSError as e:
        raise journal.ExportInterrupted(
            f"recorded as {ex.export_id}, but the file could not be moved into place ({e.strerror}); "
            "run `tracer verify` to finish it", path=str(ex.out)) from None
    return created