"""tracer export: one fingerprinted copy of a source for one recipient.

source -> read (all text) -> type columns -> select rows & columns
  -> identities and marks, one pass over row ranges (keyed digests by the
     native PRF, or SQL; lattice-v1 marks by forensics.markwrite in NumPy/Arrow,
     or SQL) -> the marks to an Arrow file (tracer.assemble.MarkedRanges)
  -> canaries (from the export's own rows), marked the same way
  -> assemble in file order, marks in place, filter re-checked, and write
     (tracer.assemble) -> one lineage transaction (export, rows, canaries,
     source identities)

Everything per row runs in DuckDB, Arrow or NumPy; Python loops only over
row ranges and canaries."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary.errors import SchemaError, TracerError, UsageError, safe_detail
from canary.kinds import IDENTIFIERS, Kind
from canary.prf import Key, export_key, identity_key
from forensics import contractmarks, fastprf, markplan, markread, markwrite, sqlprf, stats
from forensics.codesize import code_parameters
from forensics.coltypes import ColumnType, type_columns
from forensics.duck import insert_rows
from forensics.normalize import (IDNO15_NAME_CODE, IDNO15_NAME_LABEL, KIND_CODES, identity_label,
                                 idno15_name_message, normalise, sql_name, sql_normalise)

from . import assemble, commit, journal, live, openlineage, store, writers
from .canaries import CanaryPlanter, Planted, default_canary_count, load_rows
from .filters import check_where, numeric_columns, qident, where_flag
from .home import Home
from .lineage import recipient_name, similar_recipient
from .progress import ProgressFn, noop
from .sources import SourceSpec, is_database_url, load_source

DEFAULT_MARK_FRACTION = 0.5
DATE_WINDOW_DAYS = 4  # lattice period for dates: a mark moves a date by at most this
COARSE_Q = 10  # coarse amount channel: lattice period in whole yuan
COARSE_MIN_WHOLE = 1000  # coarse marks only on amounts of at least this many yuan
ROUND_YUAN = 100  # amounts in whole hundreds of yuan are never marked
SAMPLE_ROWS = 2000
CONTRACT_SAMPLE_ROWS = 300  # sampled rows a loan's contract is recognised on
COPY_CHECK_ROWS = 5000  # rows of a new source attributed like a leak (attribution reads an export's marks on 5,000 at most)
COPY_ALPHA = 1e-6  # the false-match chance at which an earlier export is taken as this source's parent
PLAN_SAMPLE_ROWS = 100_000  # rows an amount column's mark plan looks at
# DuckDB's working memory for an export: past it, tables and joins spill to
# the export's scratch folder, so memory stays flat however long the list.
# Python, Arrow batches and DuckDB's own overhead add about 0.5 GB on top.
EXPORT_MEMORY_LIMIT = "400MB"
RECORD_MEMORY_LIMIT = "300MB"
IDENTITY_BATCH_ROWS = 1 << 18  # rows a batch through the native PRF (bounded memory)
CANARY_SHARE_NOTICED = 0.05  # canaries above this share of the rows are said on the receipt
EXPORT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")  # names files under the home: no path parts
# A header that gives amounts in units above the yuan (授信额度(万元)): a mark
# of ±1.00 there would move a credit limit by 10,000 yuan.
_AMOUNT_UNIT = re.compile(r"[万千亿](?:元|美元|港元|欧元|日元|英镑)|百万|千万"
                          r"|(?<=[(（\[【])[^)）\]】]*?(?<![\u4e00-\u9fff])[万千亿](?![\u4e00-\u9fff])[^)）\]】]*(?=[)）\]】])"
                          r"|(?<=[(（\[【])\s*(?:单位[:：]?\s*)?[万千亿]\s*(?=[)）\]】])"
                          r"|thousands?|millions?|(?<![a-z])(?:k|mn|mm)(?![a-z])|'000", re.I)
# Dates a recipient acts on to the day (contractual) are never marked.
_CONTRACT_DATE_HINTS = ("到期", "还款", "有效期", "失效", "截止", "截至", "终止", "maturity", "due", "expir",
                        "exp_dt", "expdt", "valid", "deadline")


@dataclass
class ExportRequest:
    source: str
    recipient: str
    purpose: str | None
    out: str
    approver: str | None = None
    authorization: str | None = None  # approval or consent reference
    retain_until: date | None = None  # the recipient must delete the data by then
    columns: Sequence[str] | None = None
    where: str | None = None
    mark_fraction: float = DEFAULT_MARK_FRACTION
    canaries: int | None = None  # None: grows with the export's size
    shared_canaries: bool = True  # also take pooled canaries shared with a keyed subset of exports
    colluders: int = 5  # size the code to name one of this many merged copies...
    epsilon: float = 1e-6  # ...with at most this probability of naming an innocent one
    mark_dates: bool = True
    export_id: str | None = None  # give one to reproduce an export byte for byte
    neutralise_formulas: bool = True  # prefix formula-like text cells with ' (OWASP CSV injection)
    table: str | None = None  # database sources: a table...
    query: str | None = None  # ...or a query
    format: str | None = None  # csv | xlsx | parquet (default: from the output's extension, else csv)
    encoding: str | None = None  # CSV only: utf-8 (with a BOM, the default) or gbk
    openlineage_file: str | None = None  # append an OpenLineage RunEvent (JSON line) here...
    openlineage_url: str | None = None  # ...and/or POST it to URL + /api/v1/lineage
    now: datetime | None = None


@dataclass
class ColumnReceipt:
    name: str
    kind: str
    marked: int = 0
    tolerance: str | None = None
    note: str | None = None
    channels: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"column": self.name, "kind": self.kind, "marked": self.marked, "tolerance": self.tolerance,
                "note": self.note, "channels": self.channels}


@dataclass
class ExportReceipt:
    """What the steward is told (and keeps): never sent to the recipient."""

    export_id: str
    recipient: str
    recipient_created: bool
    purpose: str | None
    approver: str | None
    rows: int
    canaries: int
    columns: list[ColumnReceipt]
    out_path: str
    sha256: str
    bytes: int
    key_id: str
    reverted_for_filter: int
    code: dict
    seconds: float
    notes: list[str] = field(default_factory=list)
    receipt_path: str | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. OpenLineage not delivered

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "columns"}
        d["columns"] = [c.to_dict() for c in self.columns]
        return d


def export(request: ExportRequest, *, home: Home | str | None = None,
           progress: ProgressFn | None = None) -> ExportReceipt:
    """Write a fingerprinted copy of ``request.source`` and record it.

    ``progress(stage, done=None, total=None)`` is told each stage as it starts
    (tracer.progress shows it on a terminal)."""
    t0 = time.monotonic()
    home = home if isinstance(home, Home) else Home.at(home)
    home.require()
    key = home.load_key()
    now = request.now or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    export_id = request.export_id or "ex-" + secrets.token_hex(5)
    out = Path(request.out).expanduser().resolve()
    request = replace(request, recipient=recipient_name(request.recipient))  # the caller's request is left as given
    _check_request(request, out, home)

    # Crash safety (see tracer.journal): announce the export, finish or roll
    # back any export whose process died, and read the store without holding
    # it; it is attached for writing only for the lineage transaction.
    pending = journal.Pending(home, export_id, out)
    try:
        con = store.connect(home, read_only=True, temp_dir=pending.scratch,
                            memory_limit=os.environ.get("TRACER_MEMORY_LIMIT", EXPORT_MEMORY_LIMIT))
        try:
            journal.recover(home, con)
            job = _Export(con, home, key, request, export_id, out, now, t0)
            try:
                job.pending = pending
                job.progress = progress or noop
                return job.run()
            finally:
                job.side.close()
        finally:
            con.close()
    finally:
        pending.close()


def _check_request(req: ExportRequest, out: Path, home: Home) -> None:
    if not 0.0 <= req.mark_fraction <= 1.0:
        raise UsageError("--mark-fraction must be between 0 and 1")
    if req.canaries is not None and req.canaries < 0:
        raise UsageError("--canaries must be 0 or more")
    # An unset shell variable ("--columns $COLS") must not send the whole list.
    if req.columns is not None and not any(c.strip() for c in req.columns):
        raise UsageError("--columns names no column (give column names separated by commas, or leave it out "
                         "to export every column)")
    if req.where is not None and not req.where.strip():
        raise UsageError("--where is empty (give a condition, or leave it out to export every row)")
    if req.colluders < 1 or not 0.0 < req.epsilon < 1.0:
        raise UsageError("--colluders must be at least 1 and --epsilon between 0 and 1")
    if req.export_id is not None and not EXPORT_ID.fullmatch(req.export_id):
        raise UsageError("--export-id may hold only letters, digits, '.', '_' and '-' (at most 64, not starting "
                         "with '.' or '-'): it names files in the tracer home")
    source = {} if is_database_url(req.source) else {"the source": req.source}
    writers.check_output_path(out, "--out", home=home, inputs=source)
    if req.openlineage_file:  # appended to, so it may exist; never one of the export's own files
        events = Path(req.openlineage_file).expanduser().resolve()
        if events == out:
            raise UsageError("--openlineage-file would write into the export's output", path=str(events))
        writers.check_output_path(events, "--openlineage-file", home=home, inputs=source)
        openlineage.check_events_file(events)
    writers.resolve(req.format, req.encoding, out)


class _Export:
    """One export's working state; each method is one stage of the pipeline."""

    def __init__(self, con, home, key: Key, req: ExportRequest, export_id: str, out: Path, now, t0):
        self.con, self.home, self.key, self.req = con, home, key, req
        self.export_id, self.out, self.now, self.t0 = export_id, out, now, t0
        self.ekey = export_key(key, export_id)
        self.ikey = identity_key(key)
        self.notes: list[str] = []
        sqlprf.set_key(con, "ik", self.ikey)
        sqlprf.set_key(con, "ek", self.ekey)
        # A second connection to the same database, for the SQL that marking and
        # the filter's re-check run while a helper thread uses ``con`` (last: export() closes it).
        self.side = con.cursor()

    # -- stages ---------------------------------------------------------------

    def run(self) -> ExportReceipt:
        say = self.progress
        twin = similar_recipient(self.con, self.req.recipient)
        if twin is not None:
            if twin.strip() != self.req.recipient:
                raise UsageError(f"recipient {twin!r} is already registered (differs only in case or spacing): "
                                 "use that name")
            self.req = replace(self.req, recipient=twin)  # registered before names were trimmed: the same party
        if self.con.execute("SELECT count(*) FROM store.exports WHERE export_id = ?", [self.export_id]).fetchone()[0]:
            raise UsageError(f"export id {self.export_id} is already in the lineage store: an id names one copy "
                             "(reproduce an export into another home, or leave --export-id out)")
        self._refuse_overwriting_a_copy()
        self._refuse_events_into_data()
        self.terms_warnings = self._terms_warnings()  # read now: the store is detached before the end
        say("reading the source")
        spec = SourceSpec(self.req.source, self.req.table, self.req.query)
        self.info, self.source_kind, self.content_hash = load_source(self.con, spec, "src",
                                                                     tmpdir=str(self.pending.scratch))
        if getattr(self.info, "malformed", None) is not None:
            raise self.info.malformed  # a ragged or damaged source would be exported misaligned
        if self.info.rows == 0:
            raise TracerError("the source has a header but no rows", path=self.info.path)
        # Rows or sheets left out, and headers the written file will show renamed.
        self.notes += [n for n in self.info.notes if n.startswith(("not read:", "header:", "no header row"))]
        for name, new in getattr(self.info, "renamed", {}).items():
            self.notes.append(f"column {name!r} is written as {new!r}: DuckDB's row number has that name")
        if getattr(self.info, "skipped_lines", 0):
            self.notes.append(f"the source's first {self.info.skipped_lines} line(s) were a title above the "
                              "table, not rows: they are not in the export")
        say("typing columns")
        self._type_columns()
        self._select()
        self._plan_marks()  # first: the identities stage also makes the marks' keyed material
        say("keying identifiers", 0, self.info.rows)
        self._identities()
        self._derived_from()
        say("making canaries")
        self._canaries()
        self.serial = self._serial_column() if self.canary_rows else None
        store.detach(self.con)  # the rest works on this export's own tables
        say("marking")
        self._mark()
        say("writing the file")
        # From here DuckDB only streams the source's ranges to the writer, then
        # records (inserts and the ledger's sort spill in long sequential runs):
        # the smaller limit keeps the writer's own buffers inside the export's budget.
        limit = os.environ.get("TRACER_RECORD_MEMORY_LIMIT", RECORD_MEMORY_LIMIT)
        self.con.execute("SET memory_limit = " + store._sql_str(limit))
        tmp, digest, nbytes = self._write()
        self.mark_counts += self.assembly.marked_counts
        self.reverted += self.assembly.reverted
        self._count_marks()
        say("recording lineage")
        recipient_created = self._record(tmp, digest, nbytes)
        receipt = ExportReceipt(
            export_id=self.export_id, recipient=self.req.recipient, recipient_created=recipient_created,
            purpose=self.req.purpose, approver=self.req.approver, rows=self.n_rows,
            canaries=len(self.canary_rows), columns=self.receipts, out_path=str(self.out), sha256=digest,
            bytes=nbytes, key_id=self.key.key_id, reverted_for_filter=self.reverted, code=self.code_params,
            seconds=round(time.monotonic() - self.t0, 3), notes=self.notes)
        receipt.receipt_path = str(self._keep_receipt(receipt))
        receipt.warnings = (self.terms_warnings + live.warnings(self)  # pool ran short
                            + openlineage.emit(self, receipt))  # best effort
        return receipt

    def _terms_warnings(self) -> list[str]:
        """What `tracer lineage audit` would flag about this export, said now."""
        out = []
        row = self.con.execute("SELECT contract_end FROM store.recipients WHERE name = ?",
                               [self.req.recipient]).fetchone()
        if row and row[0] is not None and row[0] < self.now.date():
            out.append(f"{self.req.recipient}'s contract ended on {row[0]}: this export goes to a recipient "
                       "without a contract in force")
        if self.req.retain_until is not None and self.req.retain_until < self.now.date():
            out.append(f"--retain-until {self.req.retain_until} is already past: the recipient is due to have "
                       "deleted this data before receiving it")
        return out

    def _refuse_events_into_data(self) -> None:
        """--openlineage-file must not be a file the store records as an
        export's copy or a source (a JSON-lines list of customers passes the
        format check): appending changes what was delivered, or the source."""
        if not self.req.openlineage_file:
            return
        events = str(Path(self.req.openlineage_file).expanduser().resolve())
        copy = self.con.execute("SELECT e.export_id, r.name FROM store.exports e JOIN store.recipients r "
                                "USING (recipient_id) WHERE e.out_path = ? LIMIT 1", [events]).fetchone()
        if copy:
            raise UsageError(f"--openlineage-file is export {copy[0]}'s copy for {copy[1]}: tracer would append "
                             "an event to it", path=events)
        if self.con.execute("SELECT count(*) FROM store.sources WHERE kind = 'file' AND location = ?",
                            [events]).fetchone()[0]:
            raise UsageError("--openlineage-file is the source of earlier exports: tracer would append an event "
                             "to it", path=events)

    def _refuse_overwriting_a_copy(self) -> None:
        """--out must not be another export's file still where it was written
        (not yet sent, say): the file then sent to that recipient would carry
        this export's fingerprints, and a leak of it would accuse the wrong one."""
        if not self.out.is_file():
            return
        same = self.con.execute(
            "SELECT e.export_id, r.name, e.sha256 FROM store.exports e JOIN store.recipients r USING (recipient_id) "
            "WHERE e.out_path = ? AND e.bytes = ?", [str(self.out), self.out.stat().st_size]).fetchall()
        if not same:
            return
        digest = journal.sha256_file(self.out)
        for export_id, recipient, sha in same:
            if sha == digest:
                raise UsageError(f"--out is export {export_id}'s copy for {recipient}, unchanged since it was "
                                 "written: writing over it would put this export's fingerprints on the file meant "
                                 f"for {recipient}. Move or send that file first, or choose another --out",
                                 path=str(self.out))

    def _keep_receipt(self, receipt: "ExportReceipt") -> Path:
        """The steward's copy of what was done, kept in the home (never beside
        the output, which goes to the recipient)."""
        folder = self.home.root / "receipts"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.export_id}.json"
        data = receipt.to_dict()
        data.update({"purpose": self.req.purpose, "approver": self.req.approver,
                     "authorization": self.req.authorization,
                     "retain_until": str(self.req.retain_until) if self.req.retain_until else None,
                     "created_at": self.now.isoformat(), "source": self.info.path})
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        tmp.replace(path)
        return path

    def _type_columns(self) -> None:
        names = self.info.columns
        sample = self.con.execute(
            f"SELECT * FROM src USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) REPEATABLE (7)").fetchall()
        cols = [[r[i] for r in sample] for i in range(len(names))]
        self.sample_rows = [{n: None if v is None else str(v) for n, v in zip(names, r)}
                            for r in sample[:CONTRACT_SAMPLE_ROWS]]
        self.types: list[ColumnType] = type_columns(names, cols)
        self.kind_of = {t.name: t.kind for t in self.types}
        self.numeric = numeric_columns(names, cols)
        if self.req.columns:
            wanted = [c.strip() for c in self.req.columns if c.strip()]
            unknown = [c for c in wanted if c not in names]
            if unknown:
                raise SchemaError(f"--columns names unknown column {unknown[0]!r} "
                                  f"(the source has: {', '.join(names)})", path=self.info.path)
            self.out_cols = [n for n in names if n in set(wanted)]
        else:
            self.out_cols = list(names)

    def _select(self) -> None:
        where = self.req.where.strip() if self.req.where else None
        self.where = where or None
        if self.where:
            check_where(self.con, self.where, "src", self.types, self.numeric, path=self.info.path)
        n, lo, hi = self.con.execute("SELECT count(*), min(rowid), max(rowid) FROM src").fetchone()
        self.last_rowid = hi  # row ranges below read the source up to here
        if not self.where and lo == 0 and hi == n - 1:  # every row, numbered already: no window needed
            self.con.execute("CREATE TEMP TABLE sel AS SELECT rowid AS __r, rowid AS __pos FROM src")
            self.n_rows = n
            return
        try:
            self.con.execute(f"""
                CREATE TEMP TABLE sel AS
                SELECT __r, row_number() OVER (ORDER BY __r) - 1 AS __pos FROM (
                    {where_flag(self.where, self.types, self.numeric, "(SELECT rowid AS __r, * FROM src)", "__r")}
                ) WHERE __ok""")
        except (duckdb.Error, UnicodeDecodeError) as e:  # (DuckDB's message may cut a value mid-character)
            # A runtime error quotes the value it failed on ("张伟" is not a date): only column names stay.
            names = {t.name for t in self.types}
            raise SchemaError(f"--where cannot be evaluated on the source's rows: {safe_detail(e, names=names)}",
                              path=self.info.path) from None
        self.n_rows = self.con.execute("SELECT count(*) FROM sel").fetchone()[0]
        if self.n_rows == 0:
            raise TracerError("the filter selects no rows: nothing to export", path=self.info.path)

    def _identity_columns(self) -> dict[Kind, str]:
        found: dict[Kind, str] = {}
        for t in self.types:
            if t.kind in IDENTIFIERS and t.kind not in found:
                found[t.kind] = t.name
        return found

    def _identities(self) -> None:
        """Table ``ids``: every source row's keyed identifier digests and its
        row key (the first identifier it has, else its whole content); and
        ``self.marks``: every source row's marks, from its row key's keyed
        material. Computed by the native PRF core over Arrow batches where it
        is built, else by the same HMAC in SQL."""
        self.id_cols = self._identity_columns()
        # (alias, PRF label, SQL of the message) for every digest kept for linkage.
        specs = [(f"d_{k.value}", identity_label(k), sql_normalise(k, qident(c))) for k, c in self.id_cols.items()]
        self.digest_columns = [(KIND_CODES[k], f"d_{k.value}") for k in self.id_cols]
        name_col = next((t.name for t in self.types if t.kind is Kind.NAME), None)
        if Kind.IDNO in self.id_cols and name_col:
            msg = idno15_name_message(f"substr({sql_normalise(Kind.IDNO, qident(self.id_cols[Kind.IDNO]))}, 1, 15)",
                                      sql_name(qident(name_col)))
            specs.append(("d_idno15name", IDNO15_NAME_LABEL, msg))
            self.digest_columns.append((IDNO15_NAME_CODE, "d_idno15name"))
        priority = [f"d_{k.value}" for k in (Kind.IDNO, Kind.CUSTNO, Kind.PHONE, Kind.EMAIL, Kind.ACCOUNT)
                    if k in self.id_cols]
        all_text = " || '\x1f' || ".join(f"coalesce({qident(c)}, '')" for c in self.info.columns)
        self.mark_groups = sorted({m.group for m in self.mark_cols})
        self.known_source = self._known_source()
        # The marked columns' values are read with the identifiers: each range is marked as it is keyed.
        self.channel_columns = list(dict.fromkeys(m.name for m in self.mark_cols))  # what marks move
        if not self.mark_cols:
            self.keeper = None  # nothing moves, so every contract holds
        deal = self.keeper.deal if self.keeper else None
        rewritten = [c for c in (deal.start, deal.end, deal.payment, deal.balance) if c] if deal else []
        self.mark_value_columns = list(dict.fromkeys(self.channel_columns + rewritten))  # written from the marks
        self.mark_input_columns = list(dict.fromkeys(  # read to mark: a contract's terms too
            self.mark_value_columns + (contractmarks.input_columns(deal) if deal else [])))
        self.marks = assemble.MarkedRanges(self.pending.scratch / "marks.arrow", IDENTITY_BATCH_ROWS)
        self.unmarked_rows: list[list[np.ndarray]] = [[] for _ in self.mark_cols]  # per channel (_unmarked_cells)
        if fastprf.available():
            self._identities_native(specs, priority, all_text)
        else:
            self._identities_sql(specs, priority, all_text)
        self.marks.finish()

    def _identities_sql(self, specs, priority, all_text) -> None:
        digests = "".join(f", {sqlprf.digest64(label, msg, var='ik')} AS {alias}" for alias, label, msg in specs)
        row_digest = sqlprf.digest64("identity/row", all_text, var="ik")
        key_expr = f"coalesce({', '.join(priority)}, {row_digest})" if priority else row_digest
        self.con.execute(f"""
            CREATE TEMP TABLE ids0 AS
            SELECT __r{''.join(f', {alias}' for alias, _, _ in specs)}, {key_expr} AS row_key{self._mark_values_sql()}
            FROM (SELECT rowid AS __r, *{digests} FROM src)""")
        # Staged: DuckDB would otherwise inline the row key's PRF into the material's,
        # and the material's PRF into every plan column read from it.
        mats = "".join(f", {markplan.material_sql('row_key', g, var='ek')} AS __m{g}" for g in self.mark_groups)
        self.con.execute(f"CREATE TEMP TABLE ids1 AS SELECT *{mats} FROM ids0; DROP TABLE ids0")
        drop = ", ".join(f"__m{g}" for g in self.mark_groups)
        self.con.execute(f"CREATE TEMP TABLE ids AS SELECT *{f' EXCLUDE ({drop})' if drop else ''}"
                         f"{self._plan_sql_columns()} FROM ids1; DROP TABLE ids1")
        if not self.mark_cols:
            return
        plans = ", ".join(self._plan_columns())
        values = "".join(f", __v{k} AS {qident(c)}" for k, c in enumerate(self.mark_input_columns))
        query = f"SELECT __r, row_key, {plans}{values} FROM ids WHERE __r >= $a AND __r < $b ORDER BY __r"
        for a in range(0, self.last_rowid + 1, IDENTITY_BATCH_ROWS):
            part = self.con.execute(query, {"a": a, "b": a + IDENTITY_BATCH_ROWS}).to_arrow_table()
            marks = self._unmarked_cells(self._mark_part(part.drop_columns(["__r"])), part.column("__r"))
            self.marks.append(a, marks.add_column(0, "__r", part.column("__r")))
        for col in self._plan_columns() + [f"__v{k}" for k in range(len(self.mark_input_columns))]:
            self.con.execute(f"ALTER TABLE ids DROP COLUMN {col}")

    def _plan_columns(self) -> list[str]:
        """Each mark channel's cell plan columns: __s<i> (selected), __d<i>
        (dither), __b<i> (bit), __p<i> (up)."""
        return [f"__{x}{i}" for i in range(len(self.mark_cols)) for x in "sdbp"]

    def _plan_sql_columns(self) -> str:
        """Each mark channel's cell plan (selected, dither, bit, up) from the
        row's material columns ``__m<group>``, in SQL."""
        out = []
        for i, m in enumerate(self.mark_cols):
            plan = markplan.plan_sql(f"__m{m.group}", m)
            out.append(f", {plan['selected']} AS __s{i}, {plan['dither']} AS __d{i}, "
                       f"{plan['bit']} AS __b{i}, {plan['up']} AS __p{i}")
        return "".join(out)

    def _identities_native(self, specs, priority, all_text) -> None:
        ikeys, ekeys = fastprf.Keys([self.ikey]), fastprf.Keys([self.ekey])
        # Messages are normalised in SQL (the same expressions as the SQL path).
        # A source the store already holds needs only each row's key: its first
        # identifier in priority order, so later ones are normalised only where
        # the earlier are missing; its digests for linkage are in the store.
        chain = self.known_source is not None
        first = {alias: (label, msg) for alias, label, msg in specs}
        query = "SELECT rowid AS __r, * FROM src WHERE rowid >= $a AND rowid < $b"
        for j, alias in enumerate(priority):  # __k<j>: the j-th priority identifier's message
            missing = " AND ".join(f"__k{i} IS NULL" for i in range(j))
            msg = first[alias][1]
            query = f"SELECT *, {f'CASE WHEN {missing} THEN {msg} END' if chain and missing else msg} AS __k{j} " \
                    f"FROM ({query})"
        others = [] if chain else [(alias, label, msg) for alias, label, msg in specs if alias not in priority]
        no_id = " AND ".join(f"__k{j} IS NULL" for j in range(len(priority))) or "true"
        select = (f"SELECT __r{''.join(f', __k{j}' for j in range(len(priority)))}"
                  f"{''.join(f', {msg} AS __x{i}' for i, (_, _, msg) in enumerate(others))}, "
                  f"CASE WHEN {no_id} THEN {all_text} END AS __row{self._mark_values_sql()} FROM ({query})")
        # Read in rowid ranges, each fully fetched (DuckDB runs it in parallel),
        # keyed, marked, and appended to ``ids``: memory stays a few ranges,
        # however long the list. The connection's work (reading the next range,
        # appending the last) runs in a helper thread, its only user meanwhile,
        # while this thread keys and marks (the PRF core and NumPy release the GIL).
        def fetch(a: int) -> pa.Table:
            return self.con.execute(select, {"a": a, "b": a + IDENTITY_BATCH_ROWS}).to_arrow_table()

        starts = list(range(0, self.last_rowid + 1, IDENTITY_BATCH_ROWS))
        done = 0
        with ThreadPoolExecutor(max_workers=1) as duck:
            ahead, appended = duck.submit(fetch, starts[0]), None
            for k, a in enumerate(starts):
                batch = ahead.result()
                if k + 1 < len(starts):
                    ahead = duck.submit(fetch, starts[k + 1])
                out = {"__r": batch.column("__r")}
                prio = [fastprf.digest64(ikeys, first[alias][0], batch.column(f"__k{j}"))
                        for j, alias in enumerate(priority)]
                if not chain:  # every digest, for the store's source identities
                    out.update(zip(priority, prio))
                    for i, (alias, label, _) in enumerate(others):
                        out[alias] = fastprf.digest64(ikeys, label, batch.column(f"__x{i}"))
                row_key = fastprf.digest64(ikeys, "identity/row", batch.column("__row"))
                out["row_key"] = pc.coalesce(*prio, row_key) if prio else row_key
                if self.mark_cols:  # the range's marks, from its rows' keyed material, straight to the marks file
                    material = markplan.material_bytes(ekeys, out["row_key"], self.mark_groups)
                    part = {"row_key": out["row_key"]}
                    for i, m in enumerate(self.mark_cols):
                        plan = markread.cell_plans(material[m.group], m)
                        part.update({f"__s{i}": plan["selected"], f"__d{i}": plan["dither"],
                                     f"__b{i}": plan["bit"], f"__p{i}": plan["up"]})
                    part.update({c: batch.column(f"__v{j}") for j, c in enumerate(self.mark_input_columns)})
                    marks = self._unmarked_cells(self._mark_part(pa.table(part)), batch.column("__r"))
                    self.marks.append(a, marks.add_column(0, "__r", batch.column("__r")))
                if appended is not None:
                    appended.result()
                appended = duck.submit(self._append, "ids", pa.table(out), create=k == 0)
                done += batch.num_rows
                self.progress("keying identifiers", done, self.info.rows)
            appended.result()

    def _append(self, table: str, part: pa.Table, *, create: bool) -> None:
        """One row range into a temp table (not held in Python: DuckDB keeps
        the whole within the export's memory limit, spilling if it must)."""
        self.con.register("__part", part)
        try:
            self.con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM __part" if create else
                             f"INSERT INTO {table} SELECT * FROM __part")
        finally:
            self.con.unregister("__part")

    def _mark_values_sql(self) -> str:
        return "".join(f", {qident(c)} AS __v{k}" for k, c in enumerate(self.mark_input_columns))

    def _known_source(self) -> int | None:
        """The store's id for this source if it already holds the source's
        identity digests of every kind this export keys (a repeat export)."""
        row = self.con.execute("SELECT source_id FROM store.sources WHERE content_hash = ? AND key_id = ?",
                               [self.content_hash, self.key.key_id]).fetchone()
        if row is None:
            return None
        held = {r[0] for r in self.con.execute(
            "SELECT DISTINCT kind FROM store.source_identities WHERE source_id = ?", [row[0]]).fetchall()}
        return row[0] if {KIND_CODES[k] for k in self.id_cols} <= held else None

    def _derived_from(self) -> None:
        """Is this source a copy of an earlier export? Then the new copy carries
        that export's fingerprints too, and a leak of it must not be blamed on
        the earlier recipient: the chain is recorded (``params.derived_from``,
        read by forensics.attribute). Recognised by the file's bytes (the
        earlier output itself, whatever --where or --columns take of it) or
        by its rows (an earlier export's unique canaries among them, whatever
        format it was turned into)."""
        found: dict[str, str] = {}
        path = Path(self.info.path)
        if self.source_kind == "file" and path.is_file():
            size = path.stat().st_size
            same_size = self.con.execute("SELECT export_id, recipient_id, sha256 FROM store.exports WHERE bytes = ?",
                                         [size]).fetchall()
            if same_size:
                digest = journal.sha256_file(path)
                found.update({e: "its file" for e, _, h in same_size if h == digest})
        # How much of the source is the earlier copy: 1 for its file, else the share of the
        # source's readable marked cells that carry its marks (a copy: nearly all; the bank's
        # data with some returned rows merged in: far fewer). Attribution reads it to tell a
        # recipient's file, whose leak is the recipient's, from the bank's own data.
        self.derived_share: dict[str, float] = {e: 1.0 for e in found}
        # An earlier export's unique canaries among the rows (a pooled one is shared
        # by several exports), matched on any identifier kind: a spreadsheet may have
        # mangled the ID numbers and left the phones. One join, the few canary
        # digests on the build side.
        self._canary_digests()
        hits = self.con.execute(f"""
                SELECT c.export_id, c.canary_no, list(DISTINCT c.kind ORDER BY c.kind) FROM __canary_digests c
                JOIN {self.source_digests()} s ON s.kind = c.kind AND s.digest = c.digest
                GROUP BY ALL ORDER BY ALL""").fetchall()
        for export_id, n in self._canaries_beyond_chance(hits, self._named_canaries(hits)).items():
            found.setdefault(export_id, f"{n} of its canaries among the rows")
        # Every earlier canary among the rows, by chance or not: this export's copy carries
        # them, and attribution must not count them as that earlier export's own evidence.
        self.carried_canaries: dict[str, list[int]] = {}
        for export_id, canary_no, _ in hits:
            self.carried_canaries.setdefault(export_id, []).append(int(canary_no))
        if self.known_source is None:  # a file not exported before: whose marks does it carry?
            for export_id, (why, share) in self._carries_earlier_marks().items():
                found.setdefault(export_id, why)
                self.derived_share.setdefault(export_id, share)
            # ... and the copy is the source only if the source holds little else: the share of
            # its rows the earlier export held bounds it (a bank list that took some returned
            # rows holds its other customers too, whose cells carry no marks of that export).
            for export_id in found:
                if self.derived_share.get(export_id, 0.0) < 1.0:
                    held = self.con.execute("""
                        SELECT avg(CASE WHEN r.row_key IS NULL THEN 0.0 ELSE 1.0 END) FROM ids LEFT JOIN (
                            SELECT DISTINCT x.row_key FROM store.export_rows x JOIN store.exports e USING (export_no)
                            WHERE e.export_id = ?) r USING (row_key)""", [export_id]).fetchone()[0] or 0.0
                    self.derived_share[export_id] = round(min(self.derived_share.get(export_id, 0.0), held), 3)
        # Those canaries are not the bank's customers: a new source is registered without
        # them (commit.record), so a leak of the earlier copy still counts them as its
        # canaries. A source registered so before keeps its earlier exports' parents.
        # A customer or account number alone only locates a canary (other customers of a densely
        # numbered bank hold such numbers): a row matching on one is a customer and stays.
        canary_kinds = {KIND_CODES[k] for k in IDENTIFIERS if k not in (Kind.CUSTNO, Kind.ACCOUNT)}
        arms = " UNION ".join(f"SELECT ids.row_key FROM ids JOIN __canary_digests c ON c.kind = {code} "
                              f"AND c.digest = ids.{alias}" for code, alias in self.digest_columns
                              if code in canary_kinds)
        self.parent_canary_rows = bool(found) and self.known_source is None and bool(arms)
        if self.parent_canary_rows:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE __parent_canary_rows AS {arms}")
        self.con.execute("DROP TABLE __canary_digests")
        if self.known_source is not None:
            # The store holds a known source's rows without the earlier canaries among them:
            # what its earlier exports recorded stands (an export recorded before exports
            # listed the canaries they carry leaves the list unknown: attribution then takes
            # all of its parents' canaries as carried).
            for (params,) in self.con.execute("SELECT params FROM store.exports WHERE source_id = ?",
                                              [self.known_source]).fetchall():
                params = json.loads(params)
                for parent in params.get("derived_from", []):
                    found.setdefault(parent, "recorded at an earlier export of this source")
                for parent, share in params.get("derived_share", {}).items():
                    self.derived_share.setdefault(parent, share)
                if "carried_canaries" not in params and params.get("derived_from"):
                    self.carried_canaries = None
                elif self.carried_canaries is not None:
                    for export_id, nos in params.get("carried_canaries", {}).items():
                        self.carried_canaries.setdefault(export_id, []).extend(nos)
        self.derived_from = sorted(found)
        if found:
            names = dict(self.con.execute(
                "SELECT e.export_id, r.name FROM store.exports e JOIN store.recipients r USING (recipient_id) "
                "WHERE list_contains(?, e.export_id)", [self.derived_from]).fetchall())
            which = "; ".join(f"{e} to {names.get(e, '?')} ({why})" for e, why in sorted(found.items()))
            self.notes.append(f"this source is a copy of an earlier export, not the source of record: {which}. "
                              "The new copy carries its fingerprints too; the chain is recorded, so a leak of the "
                              "new copy is not blamed on that recipient (export from the source of record where "
                              "you can)")

    def _canaries_beyond_chance(self, hits: list[tuple[str, int, list[int]]],
                                named: set[tuple[str, int]]) -> dict[str, int]:
        """Earlier exports whose unique canaries ``hits`` (export id, canary,
        identifier kinds it matched on) are too many to be real people who
        happen to share an identifier: attribution's canary test
        (forensics.attribute.canary_evidence and canary_log_p, Bonferroni over
        exports) at alpha. A copy of a canary's row matches on all its
        identifiers at once; one matched on a single identifier other than the
        phone counts where the row also carries its name (``named``: (export
        id, canary))."""
        if not hits:
            return {}
        from forensics.attribute import canary_log_p, canary_routes, locates_only  # most exports never need it

        fields = {code: kind.value for kind, code in KIND_CODES.items()}
        params = {e: json.loads(p) for e, p in self.con.execute(
            "SELECT export_id, params FROM store.exports WHERE list_contains(?, export_id)",
            [sorted({h[0] for h in hits})]).fetchall()}
        n_exports = self.con.execute("SELECT count(*) FROM store.exports").fetchone()[0]
        found: dict[str, dict[str, int]] = {}  # export id -> route -> canaries
        counted: dict[str, int] = {}  # export id -> canaries counting in some route
        located: dict[str, int] = {}
        for export_id, canary_no, kinds in hits:
            matched = {fields[k] for k in kinds} | ({"name"} if (export_id, canary_no) in named else set())
            by_route = found.setdefault(export_id, {})
            routes = canary_routes(matched)
            for route in routes:
                by_route[route] = by_route.get(route, 0) + 1
            counted[export_id] = counted.get(export_id, 0) + bool(routes)
            located[export_id] = located.get(export_id, 0) + locates_only(matched)
        out = {}
        for export_id, by_route in found.items():
            planted = max(1, int(params.get(export_id, {}).get("canaries", 1)))
            _, log_p = canary_log_p(by_route, self.info.rows, planted, located[export_id])
            if stats.bonferroni(log_p, max(1, n_exports)) <= math.log(COPY_ALPHA):
                out[export_id] = counted[export_id]
        return out

    def _named_canaries(self, hits: list[tuple[str, int, list[int]]]) -> set[tuple[str, int]]:
        """(export id, canary) of the ``hits`` on one identifier a source row
        holds with the canary's name beside it. Read only for a new source (a
        known one's earlier exports recorded what they found)."""
        name_col = next((t.name for t in self.types if t.kind is Kind.NAME), None)
        kinds = [k for k in self.id_cols if k is not Kind.PHONE]
        arms = [f"SELECT {KIND_CODES[k]} AS kind, d_{k.value} AS digest, __r FROM ids" for k in kinds]
        if self.known_source is not None or name_col is None or not arms or not any(len(h[2]) == 1 for h in hits):
            return set()
        return set(self.con.execute(f"""
            SELECT DISTINCT c.export_id, c.canary_no FROM __canary_digests c
            JOIN ({' UNION ALL '.join(arms)}) s ON s.kind = c.kind AND s.digest = c.digest
            JOIN src ON src.rowid = s.__r
            JOIN store.exports e ON e.export_id = c.export_id
            JOIN store.canaries k ON k.export_no = e.export_no AND k.canary_no = c.canary_no
            WHERE {sql_name('src.' + qident(name_col))} = {sql_name('k.name')}""").fetchall())

    def _carries_earlier_marks(self) -> dict[str, tuple[str, float]]:
        """Earlier exports whose marks a sample of the source's rows carries.
        A copy cut to rows without the earlier canaries and not byte for byte
        the earlier file (a province's slice of a recipient's copy) is still
        that copy: the sample is attributed like a leak and the exports it
        accuses are parents. Attribution errs at most alpha; a wrong parent
        could only spare that export a later accusation, never accuse one."""
        if not self.id_cols or not self.con.execute("SELECT count(*) FROM store.exports").fetchone()[0]:
            return {}
        from forensics.attribute import attribute as attribute_rows  # only here: most exports never need it

        sample = self.pending.scratch / "source-sample.csv"
        self.con.execute(f"COPY (SELECT * FROM src USING SAMPLE reservoir({COPY_CHECK_ROWS} ROWS) REPEATABLE (5)) "
                         f"TO {store._sql_str(str(sample))} (FORMAT csv, HEADER true)")
        cur = self.con.cursor()  # its own temp tables: the attribution's never meet the export's
        try:
            store.lineage_views(cur)
            verdict = attribute_rows(cur, sample, self.home.keyring(), alpha=COPY_ALPHA,
                                     tmpdir=str(self.pending.scratch))
        finally:
            cur.close()
            sample.unlink(missing_ok=True)
        return {c.export_id: (f"its marks in {verdict.rows:,} of the rows, false-match probability "
                              f"{c.p_value:.1e}", round(c.marks_agree / max(1, c.marks_readable), 3))
                for c in verdict.accused}

    def _canary_digests(self) -> None:
        """TEMP TABLE __canary_digests (export_id, canary_no, kind, digest): every
        earlier unique canary's identifiers under this export's identity key.
        Those of exports under another key (before a rotation) are keyed again
        from the canary as written, which the store keeps whole."""
        arms = " UNION ALL ".join(  # store.canaries holds <kind>_digest for every identifier kind
            f"SELECT e.export_id, c.canary_no, {KIND_CODES[k]}::UTINYINT AS kind, c.{k.value}_digest AS digest "
            f"FROM store.canaries c JOIN store.exports e USING (export_no) "
            f"WHERE c.shared_id IS NULL AND e.key_id = $key AND c.{k.value}_digest IS NOT NULL"
            for k in IDENTIFIERS)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE __canary_digests AS {arms}", {"key": self.key.key_id})
        rekeyed = []
        for export_id, canary_no, row_json, params in self.con.execute(
                "SELECT e.export_id, c.canary_no, c.row_json, e.params FROM store.canaries c "
                "JOIN store.exports e USING (export_no) WHERE c.shared_id IS NULL AND e.key_id <> ?",
                [self.key.key_id]).fetchall():  # few: only exports made before a key rotation
            row, column_kinds = json.loads(row_json), json.loads(params).get("column_kinds", {})
            for column, kind_name in column_kinds.items():
                kind = Kind(kind_name)
                value = normalise(kind, row.get(column)) if kind in IDENTIFIERS else None
                if value:
                    rekeyed.append((export_id, canary_no, KIND_CODES[kind],
                                    self.ikey.digest64(identity_label(kind), value)))
        if rekeyed:
            insert_rows(self.con, "", ["export_id", "canary_no", "kind", "digest"], rekeyed,
                        [pa.string(), pa.int32(), pa.uint8(), pa.uint64()], into="__canary_digests")

    def source_digests(self) -> str:
        """SQL of (kind, digest): every identifier of every source row, from
        the store for a known source, else from this export's ``ids``."""
        if self.known_source is not None:
            codes = ", ".join(str(KIND_CODES[k]) for k in self.id_cols) or "NULL"
            return (f"(SELECT kind, digest FROM store.source_identities "
                    f"WHERE source_id = {int(self.known_source)} AND kind IN ({codes}))")
        arms = " UNION ALL ".join(f"SELECT {KIND_CODES[k]} AS kind, d_{k.value} AS digest FROM ids"
                                  for k in self.id_cols)
        return f"({arms or 'SELECT NULL::UTINYINT AS kind, NULL::UBIGINT AS digest'})"

    def _plan_marks(self) -> None:
        self.mark_cols: list[markplan.MarkColumn] = []
        self.receipts: list[ColumnReceipt] = []
        f = self.req.mark_fraction
        slot = 0
        self.keeper = self._contract()
        bound = contractmarks.bound_columns(self.keeper.deal) if self.keeper else []
        for name in self.out_cols:
            kind = self.kind_of[name]
            rec = ColumnReceipt(name, kind.value)
            self.receipts.append(rec)
            cols: list[markplan.MarkColumn] = []
            note = None
            if name in bound and name in (self.keeper.deal.term, self.keeper.deal.rate):
                note = "a term of the loan's contract (maturity, payment and balance follow from it): never marked"
            elif name in bound:
                note = ("bound by the loan's contract (maturity = grant + term, payment = the annuity, balance = "
                        "the schedule's): never marked on its own, recomputed where the grant or principal moves")
            elif kind is Kind.AMOUNT and (unit := _AMOUNT_UNIT.search(name)):
                unit_name = re.split(r"[:：]", unit.group(0))[-1].strip()
                note = (f"amounts in units of {unit_name} (header): never marked, as a mark's ±1.00 "
                        "would be that unit, not a yuan")
            elif kind is Kind.AMOUNT:
                cols, note = self._amount_plan(name, slot, self._share(name, f))
            elif kind is Kind.DATE and self.req.mark_dates:
                if any(h in name.lower() for h in _CONTRACT_DATE_HINTS):
                    note = "contractual date: never marked"
                else:
                    # No mark moves a date past the day of the export (a future date is a tell).
                    last = (self.now.date() - date(1970, 1, 1)).days - DATE_WINDOW_DAYS
                    cols = [markplan.MarkColumn(name, "date", slot, DATE_WINDOW_DAYS, sel_hi=self._share(name, f),
                                                max_units=last)]
            elif kind in IDENTIFIERS or kind in (Kind.NAME, Kind.BIRTHDATE, Kind.AGE, Kind.GENDER):
                note = "never changed (identifies or must agree with the ID)"
            rec.note = note
            if cols:
                self.mark_cols.extend(cols)
                rec.tolerance = "; ".join(c.tolerance for c in cols)
                slot += 1
        recipients = self.con.execute("SELECT count(*) FROM store.recipients WHERE name <> ?",
                                      [self.req.recipient]).fetchone()[0] + 1
        self.code_params = code_parameters(
            [(f"{m.name}/{m.channel}", m.q, m.sel_hi - m.sel_lo) for m in self.mark_cols],
            self.req.colluders, max(recipients, 2), self.req.epsilon)
        if not any(t.kind in IDENTIFIERS and t.name in self.out_cols for t in self.types):
            # A leak is linked to customers, its marks read and its canaries found
            # through identifiers: none exported, none of that can happen.
            self.code_params["rows_needed"] = None
            self.notes.append("no identifier column is exported (ID number, phone, customer number, email or "
                              "account): a leak of this copy cannot be linked to customers, its marks cannot be "
                              "read and its canaries cannot be found, so it cannot be attributed; the lineage "
                              "still records who received what. Export an identifier column to make it traceable")

    def _share(self, name: str, f: float) -> float:
        """The share of a column's cells marked: ``f``, or twice it for a loan's
        free value whose bound twin is recomputed from it (the principal takes
        its payment's share, the grant its maturity's: the twin's cells would
        spell the same mark again). 10-row leaks of a loan book named the
        recipient 18 times in 30 with half the principals marked, 30 with the
        payment marked besides; once round principals were left unmarked,
        20-row leaks did 9 times in 30 with half the grants marked, 30 with all."""
        deal = self.keeper.deal if self.keeper else None
        twin = {deal.principal: deal.payment, deal.start: deal.end}.get(name) if deal else None
        return min(1.0, 2 * f) if twin else f

    def _contract(self) -> contractmarks.Keeper | None:
        """A loan contract the exported columns hold (canary.contract finds
        it on sampled rows): marks then move only its grant date and
        principal, and the rest is recomputed from them (forensics.contractmarks)."""
        dates = [c for c in self.out_cols if self.kind_of[c] is Kind.DATE]
        numbers = [c for c in self.out_cols if self.kind_of[c] in (Kind.AMOUNT, Kind.OTHER)]
        if len(dates) < 2 or not numbers:
            return None
        deal = contractmarks.recognise(self.sample_rows, dates, numbers, self.now.date())
        return None if deal is None else contractmarks.Keeper(deal, self.now.date(), DATE_WINDOW_DAYS)

    def _amount_plan(self, name: str, slot: int, f: float):
        clean = markplan.amount_clean_sql(qident(name))
        # Every k-th selected row (deterministic, so an export id reproduces the
        # plan): the plan is a judgement on the column's shape, not a count.
        step = max(1, -(-self.n_rows // PLAN_SAMPLE_ROWS))
        rows = (f"src JOIN sel ON src.rowid = sel.__r WHERE sel.__pos % {step} = 0" if self.where
                else f"src WHERE src.rowid % {step} = 0")
        row = self.con.execute(f"""
            SELECT count(*) FILTER (WHERE regexp_full_match(c, '[-+]?\\d+(\\.\\d+)?')),
                   count(c),
                   mode(CASE WHEN contains(c, '.') THEN length(split_part(c, '.', 2)) ELSE 0 END),
                   count(*) FILTER (WHERE regexp_full_match(c, '[-+]?\\d*[1-9]')),
                   median(abs(TRY_CAST(c AS DOUBLE)))
            FROM (SELECT {clean} AS c FROM {rows})""").fetchone()
        numeric, nonempty, decimals, not_round, med = row
        if not nonempty or numeric < 0.95 * nonempty:
            return [], "not marked: values are not all plain numbers"
        decimals = int(decimals or 0)
        if decimals > 6:
            return [], "not marked: more than 6 decimals"
        if decimals >= 2:
            q = 100
        elif decimals == 1 or not_round >= 0.5 * numeric:
            q = 20
        else:
            return [], "not marked: values are round numbers, a mark would show"
        tol = q / 10 ** decimals
        if med is not None and tol > 0.005 * med:
            return [], f"not marked: tolerance {tol:g} would exceed 0.5% of the median value"
        # A coarse channel on the whole-yuan part survives rounding to whole yuan;
        # it shares the slot with the fine channel and marks the other cells.
        coarse = decimals >= 1 and med is not None and (COARSE_Q + 0.5) <= 0.005 * med
        fine_hi = f / 2 if coarse else f
        # A round amount (500000.00, 8500) stays as it is: moved, it is a loan or a salary
        # off the list's menu, and the list's other rows say what it was.
        round_units = ROUND_YUAN * 10 ** decimals
        out = [markplan.MarkColumn(name, "amount", slot, q, decimals, min_units=20 * q, sel_hi=fine_hi,
                                   round_units=round_units)]
        if coarse:
            out.append(markplan.MarkColumn(name, "amount", slot, COARSE_Q, decimals,
                                           min_units=COARSE_MIN_WHOLE * 10 ** decimals, channel="coarse",
                                           sel_lo=fine_hi, sel_hi=f, round_units=round_units))
        return out, None

    # -- canaries -------------------------------------------------------------

    def _canaries(self) -> None:
        want = self.req.canaries if self.req.canaries is not None else default_canary_count(self.n_rows)
        if want > self.n_rows:  # a typo (an extra digit) ran for minutes and made a file of canaries
            raise UsageError(f"--canaries {want:,} is more than the {self.n_rows:,} rows exported: canaries hide "
                             "among real rows, so give at most that (the default grows with the export)")
        self.canary_rows: list[Planted] = []
        if want <= 0:
            return
        planter = CanaryPlanter(self, unique=want)
        if self.req.shared_canaries:
            self.canary_rows += planter.pooled(self.key, self.content_hash, self.info.rows, self._pool_today())
        self.canary_rows += planter.unique(want, self.now.date())
        self.canary_rows = planter.in_sort_order(self.canary_rows)
        live.assign(self, self.canary_rows)  # the bank's own phones/mailboxes, if a pool exists
        made = sum(1 for c in self.canary_rows if c.shared_id is None)
        if len(self.canary_rows) > CANARY_SHARE_NOTICED * self.n_rows:
            self.notes.append(f"the {len(self.canary_rows):,} canaries are {len(self.canary_rows) / self.n_rows:.0%} "
                              f"of the {self.n_rows:,} rows: a recipient may notice customers they cannot find")
        if planter.no_free_code is not None:
            self.notes.append(f"no canaries: column {planter.no_free_code!r} is numbered without a gap, so a canary "
                              "could only take the number of a customer still to come; the marks fingerprint "
                              "this export")
        elif made < want:
            self.notes.append(f"only {made} of {want} canaries could be made to pass every check and the filter")

    def _serial_column(self) -> tuple[str, int, int] | None:
        """A column that numbers the rows in file order (序号: 1, 2, 3 ... or
        0001, 0002 ...): (name, first number, width to pad to). Canaries copy
        their donor's other columns, so without renumbering each would repeat
        a row's number, a duplicate anyone scanning the column sees; the
        writer numbers the column again over the rows as written. Only for
        an export of every row: a filtered list's numbers are the source's."""
        if self.where or self.last_rowid != self.n_rows - 1:
            return None
        for t in self.types:
            if t.kind is not Kind.OTHER or t.name not in self.out_cols:
                continue
            col = qident(t.name)
            first = self.con.execute(f"SELECT {col} FROM src WHERE rowid = 0").fetchone()[0]
            if not first or not first.isascii() or not first.isdigit() or len(first) > 12:
                continue
            width = len(first) if first.startswith("0") else 0
            number = f"lpad(CAST({int(first)} + rowid AS VARCHAR), {width}, '0')" if width else \
                f"CAST({int(first)} + rowid AS VARCHAR)"
            if self.con.execute(f"SELECT count(*) FROM src WHERE {col} = {number}").fetchone()[0] == self.n_rows:
                self.notes.append(f"column {t.name!r} numbers the rows: it is numbered again over the rows as "
                                  "written (the canaries among them)")
                return t.name, int(first), width
        return None

    def _pool_today(self):
        """Pooled canaries are the same people in every export of a source: their
        plausibility checks use the date the source was first registered."""
        row = self.con.execute("SELECT min(registered_at) FROM store.sources WHERE content_hash = ? AND key_id = ?",
                               [self.content_hash, self.key.key_id]).fetchone()
        return (row[0] or self.now).date()

    # -- marks and output -----------------------------------------------------

    def _mark(self) -> None:
        """The canaries, marked like real rows (their final cells in
        ``canary_final``, an Arrow table by anchor row). Real rows were marked
        as their identities were keyed (``self.marks``); tracer.assemble
        puts their values in place, and re-checks the filter, as it writes."""
        cols = self.info.columns
        self.mark_counts = np.zeros(len(self.mark_cols), np.int64)
        self.reverted = 0
        load_rows(self.con, self.info.columns, "canary_src", [(i, c.row) for i, c in enumerate(self.canary_rows)])
        anchors = [(i, c.anchor_pos) for i, c in enumerate(self.canary_rows)]
        insert_rows(self.con, "canary_anchor", ["__c", "__pos"], anchors, [pa.int32(), pa.int64()])
        # Canary identities, digested exactly like real rows' (few rows: SQL is fine).
        id_exprs = []
        for kind, col in self.id_cols.items():
            id_exprs.append(sqlprf.digest64(identity_label(kind), sql_normalise(kind, qident(col)), var="ik"))
        all_text = " || '\x1f' || ".join(f"coalesce({qident(c)}, '')" for c in cols)
        row_digest = sqlprf.digest64("identity/row", all_text, var="ik")
        c_key = f"coalesce({', '.join(id_exprs + [row_digest])})"
        canary_mats = "".join(f", {markplan.material_sql('row_key', g, var='ek')} AS __m{g}"
                              for g in self.mark_groups)
        canaries = self.con.execute(f"""
            SELECT __anchor, __c, row_key{self._plan_sql_columns()}, * EXCLUDE (__anchor, __c, row_key) FROM (
                SELECT __anchor, __c, row_key{canary_mats}, * EXCLUDE (__anchor, __c, row_key) FROM (
                    SELECT sel.__r AS __anchor, c.__c, {c_key} AS row_key, {', '.join('c.' + qident(c) for c in cols)}
                    FROM canary_src c JOIN canary_anchor a USING (__c) JOIN sel ON sel.__pos = a.__pos))
            ORDER BY __anchor, __c""").to_arrow_table()
        self.con.execute("DROP TABLE canary_src; DROP TABLE canary_anchor")
        rows = canaries.select(["__anchor", "__c", *cols])
        if self.mark_cols:
            marks = self._mark_part(canaries.select(["row_key", *self._plan_columns(), *self.mark_input_columns]))
            marks = marks.drop_columns([f"__l{i}" for i in range(len(self.mark_cols))])
            rows, counts, self.reverted = self.apply_marks(rows, marks)
            self.mark_counts += counts
        self.canary_final = rows

    def _mark_part(self, part: pa.Table) -> pa.Table:
        """_mark_channels, then a loan contract's bound columns recomputed
        from its marked grant and principal (forensics.contractmarks), with
        ``__n_`` (and under a filter ``__o_``) columns of their own."""
        marked = self._mark_channels(part)
        if self.keeper is None:
            return marked
        deal = self.keeper.deal
        free = [c for c in (deal.start, deal.principal) if c]
        now = {c: marked.column("__n_" + c) if c in self.channel_columns else part.column(c) for c in free}
        got, back = self.keeper.keep({c: part.column(c) for c in contractmarks.input_columns(deal)}, now)
        for c in self.mark_value_columns:
            if c in self.channel_columns and c not in got:
                continue
            new = got.get(c, markwrite.as_strings(part.column(c)))
            if "__n_" + c in marked.column_names:
                marked = marked.set_column(marked.column_names.index("__n_" + c), "__n_" + c, new)
                continue
            marked = marked.append_column("__n_" + c, new)
            if self.where:
                marked = marked.append_column("__o_" + c, markwrite.as_strings(part.column(c)))
        for i, m in enumerate(self.mark_cols):
            if back.any() and m.name == deal.start:  # written unmarked: recorded as such, never read
                flag = marked.column(f"__f{i}").to_numpy(zero_copy_only=False).astype(bool)
                left = marked.column(f"__l{i}").to_numpy(zero_copy_only=False).astype(bool)
                marked = marked.set_column(marked.column_names.index(f"__f{i}"), f"__f{i}", pa.array(flag & ~back))
                marked = marked.set_column(marked.column_names.index(f"__l{i}"), f"__l{i}",
                                           pa.array(left | (flag & back)))
        return marked

    def _mark_channels(self, part: pa.Table) -> pa.Table:
        """Marks of the rows of ``part`` (``row_key``, every channel's cell
        plan ``__s/__d/__b/__p<i>`` and the marked columns' values), in its
        row order: ``__n_<column>`` (the value to write), ``__o_<column>``
        (the original, kept only under a filter, whose re-check may restore
        it), ``__f<i>`` (channel i marked the cell) and ``__l<i>`` (channel i
        selected the cell but could not parse its value: left as it came).

        Natively in NumPy and pyarrow.compute (forensics.markwrite) where
        the values are text; rows with a value the native parser leaves to
        SQL (odd inputs), and every row without the native core, by the SQL
        expressions of forensics.markplan (``_mark_sql``)."""
        names = self.channel_columns
        native = fastprf.available() and all(pa.types.is_string(part.column(c).type) or
                                             pa.types.is_large_string(part.column(c).type) for c in names)
        if not native:
            return self._mark_sql_rows(part)
        n = part.num_rows
        odd = np.zeros(n, bool)
        out, flags, unreadable = {}, {}, {}
        for name in names:
            original = markwrite.as_strings(part.column(name))
            new = original
            chans = [(i, m) for i, m in enumerate(self.mark_cols) if m.name == name]
            for i, m in reversed(chans):  # the first channel's CASE arm wins
                picked = pa.array(np.flatnonzero(part.column(f"__s{i}").to_numpy(zero_copy_only=False)))
                plan = [part.column(f"__{x}{i}").take(picked).to_numpy(zero_copy_only=False) for x in "dbp"]
                on, text, bad, unread = markwrite.mark(original.take(picked), *plan, m)
                picked = picked.to_numpy()
                odd[picked[bad]] = True
                flag = np.zeros(n, bool)
                flag[picked[on]] = True
                flags[i] = flag
                unreadable[i] = np.zeros(n, bool)
                unreadable[i][picked[unread]] = True
                new = pc.replace_with_mask(new, pa.array(flag), text)
            out[f"__n_{name}"] = new
            if self.where:
                out[f"__o_{name}"] = original
        out.update({f"__f{i}": pa.array(flags[i]) for i in range(len(self.mark_cols))})
        out.update({f"__l{i}": pa.array(unreadable[i]) for i in range(len(self.mark_cols))})
        marked = pa.table(out)
        if odd.any():  # recomputed by the SQL expressions
            rows = np.flatnonzero(odd)
            fixed = self._mark_sql_rows(part.take(pa.array(rows)))
            mask = pa.array(odd)
            marked = pa.table({c: pc.replace_with_mask(marked.column(c).combine_chunks(), mask,
                                                       fixed.column(c).combine_chunks().cast(marked.column(c).type))
                               for c in marked.column_names})
        return marked

    def _unmarked_cells(self, marks: pa.Table, rowids) -> pa.Table:
        """``marks`` without its ``__l<i>`` columns, whose source rows (by
        rowid, an Arrow column) are kept per channel: cells the channel selected
        and left as they came because their value did not parse (apply_marks
        adds those the filter's re-check gave back). Recorded with the
        export (commit.record): if a leaker later tidied such a value into a
        form the embedding reads, attribution must not take the cell for one
        this export marked (and so for one that cannot carry an earlier
        copy's mark)."""
        r = rowids.to_numpy()
        for i in range(len(self.mark_cols)):
            x = marks.column(f"__l{i}").to_numpy(zero_copy_only=False).astype(bool)
            if x.any():
                self.unmarked_rows[i].append(r[x])
        return marks.drop_columns([f"__l{i}" for i in range(len(self.mark_cols))])

    def _mark_sql_rows(self, part: pa.Table) -> pa.Table:
        """``_mark_part`` by the SQL expressions (forensics.markplan)."""
        self.side.register("__mark_part", part.append_column("__i", pa.array(np.arange(part.num_rows))))
        try:
            got = self.side.execute(self._mark_sql("__mark_part")).to_arrow_table()
        finally:
            self.side.unregister("__mark_part")
        return got.drop_columns(["__i"])

    def _mark_sql(self, table: str) -> str:
        """SQL marking ``table`` (``__i``, ``row_key``, the cell plans, the
        marked values), staged so that a value is parsed once per column (its
        channels share the parse), and only where some channel selected the
        cell: most cells never are."""
        stage2, stage3, flags = [], [], []
        arms: dict[str, list[tuple[str, str]]] = {}  # column -> (flag, marked value) per channel
        units_of: dict[int, str] = {}  # channel -> its units column
        names = self.channel_columns
        for name in names:
            chans = [(i, m) for i, m in enumerate(self.mark_cols) if m.name == name]
            units = {markplan.units_sql(qident(name), m) for _, m in chans}
            if len(units) == 1:
                picked = " OR ".join(f"__s{i}" for i, _ in chans)
                units_of.update({i: f"__u{chans[0][0]}" for i, _ in chans})
                stage2.append(f"CASE WHEN {picked} THEN {units.pop()} END AS __u{chans[0][0]}")
            else:  # channels parsing differently: each its own
                for i, m in chans:
                    units_of[i] = f"__u{i}"
                    stage2.append(f"CASE WHEN __s{i} THEN {markplan.units_sql(qident(name), m)} END AS __u{i}")
        for i, m in enumerate(self.mark_cols):
            u = units_of[i]
            stage2.append(f"__s{i}, __d{i}, __b{i}, __p{i}")
            on = f"coalesce(__s{i} AND {markplan.eligible_sql(u, m, embedding=True)}, false)"
            stage_plan = {"dither": f"__d{i}", "bit": f"__b{i}", "up": f"__p{i}"}
            unread = (f"coalesce(__s{i}, false) AND {u} IS NULL "
                      f"AND nullif(trim(CAST({qident(m.name)} AS VARCHAR)), '') IS NOT NULL")
            stage3.append(f"{on} AS __f{i}, {markplan.embed_sql(u, stage_plan, m)} AS __n{i}, {unread} AS __l{i}")
            arms.setdefault(m.name, []).append((f"__f{i}", markplan.format_units_sql(f"__n{i}", qident(m.name), m)))
            flags += [f"__f{i}", f"__l{i}"]

        def value(c: str, taken: str = "") -> str:
            return f"CASE {' '.join(f'WHEN {f}{taken} THEN {new}' for f, new in arms[c])} ELSE {qident(c)} END"

        # The original under a filter: the same CASE with no arm taken, so that it
        # has the marked value's type (a typed database column reads as text).
        proj = [f"{value(c)} AS {qident('__n_' + c)}" +
                (f", {value(c, ' AND false')} AS {qident('__o_' + c)}" if self.where else "") for c in names]
        narrow = ", ".join(qident(c) for c in names)
        return (f"SELECT __i, {', '.join(proj)}, {', '.join(flags)} FROM (SELECT *, {', '.join(stage3)} "
                f"FROM (SELECT __i, row_key, {narrow}, {', '.join(stage2)} FROM {table})) ORDER BY __i")

    def apply_marks(self, rows: pa.Table, marks: pa.Table) -> tuple[pa.Table, np.ndarray, int]:
        """``rows`` (aligned with ``marks``) with their marked values in
        place; under a filter, re-checked on those values: a row that would
        fall out keeps its originals and counts as reverted. Returns the rows,
        the cells each channel marked, and the rows reverted."""
        flags = [marks.column(f"__f{i}").to_numpy(zero_copy_only=False) for i in range(len(self.mark_cols))]
        for c in self.mark_value_columns:
            rows = rows.set_column(rows.column_names.index(c), c, marks.column("__n_" + c))
        reverted = 0
        if self.where:
            ok = self._where_holds(rows)
            if not ok.all():
                keep = pa.array(ok)
                for c in self.mark_value_columns:
                    rows = rows.set_column(rows.column_names.index(c), c,
                                           pc.if_else(keep, rows.column(c), marks.column("__o_" + c)))
                if "__r" in rows.column_names:  # real rows: cells written unmarked though selected
                    r = rows.column("__r").to_numpy()
                    for i, f in enumerate(flags):
                        given_back = f & ~ok
                        if given_back.any():
                            self.unmarked_rows[i].append(r[given_back])
                flags = [f & ok for f in flags]
                reverted = int((~ok).sum())
        return rows, np.array([int(f.sum()) for f in flags], np.int64), reverted

    def _where_holds(self, rows: pa.Table) -> np.ndarray:
        """Where the export's filter holds on ``rows`` (every source column)."""
        self.side.register("__recheck", rows.append_column("__i", pa.array(np.arange(rows.num_rows))))
        try:
            ok = self.side.execute(f"SELECT __ok FROM ({where_flag(self.where, self.types, self.numeric, '__recheck', '__i')}) "
                                  f"ORDER BY __i").to_arrow_table()
        finally:
            self.side.unregister("__recheck")
        return ok.column(0).to_numpy(zero_copy_only=False).astype(bool)

    def _count_marks(self) -> None:
        """The receipt's cells marked per column and channel (canaries' and
        the written rows', after the filter's re-check)."""
        by_name = {r.name: r for r in self.receipts}
        for m, n in zip(self.mark_cols, self.mark_counts):
            by_name[m.name].marked += int(n)
            by_name[m.name].channels.append({"channel": m.channel, "marked": int(n), "tolerance": m.tolerance})

    def _write(self) -> tuple[Path, str, int]:
        """Write to a temporary name beside the output, synced (tracer.commit)."""
        return commit.write_file(self)

    # -- lineage --------------------------------------------------------------

    def _record(self, tmp: Path, digest: str, nbytes: int) -> bool:
        """One transaction: records + ledger entry; then the file goes in place."""
        self.marks.close()
        self._release_written()
        return commit.record(self, tmp, digest, nbytes)

    def _release_written(self) -> None:
        """Once the file is written, recording needs only ``ids``, ``sel`` and
        ``__parent_canary_rows``: the source copy goes first, so its memory is
        freed for the record's inserts instead of being spilled to disk under
        the lowered limit."""
        for (name,) in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
            if name not in ("ids", "sel", "__parent_canary_rows"):
                self.con.execute(f"DROP TABLE IF EXISTS temp.{qident(name)}")
