"""Output formats: CSV (UTF-8 with a BOM, or GBK), XLSX (every cell text), Parquet (all VARCHAR).

Each writer takes a DuckDB query whose columns are already the cells to
write, writes the final bytes to a temporary path, syncs it, and returns the
sha256 and size of exactly those bytes. CSV and Parquet are written by
DuckDB's COPY; only XLSX streams rows through Python (openpyxl write-only
mode, a batch at a time), because no columnar XLSX writer exists.

Text everywhere is deliberate: an ID number, phone or customer number
written as a number loses its leading zeros, its X check character or
digits beyond 15 (Excel), and an amount written as a float can lose its
exact decimal text, which the amount marks live in.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import duckdb

from canary.errors import TracerError, UsageError, safe_detail

from .filters import qident
from .store import _sql_str

CHUNK = 1 << 20
XLSX_BATCH = 10_000


class OutputFormat(str, Enum):
    CSV = "csv"
    XLSX = "xlsx"
    PARQUET = "parquet"


_BY_SUFFIX = {".csv": OutputFormat.CSV, ".txt": OutputFormat.CSV, ".xlsx": OutputFormat.XLSX,
              ".parquet": OutputFormat.PARQUET, ".pq": OutputFormat.PARQUET}
_ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "gbk": "gbk",
              "cp936": "gbk"}


@dataclass(frozen=True)
class OutputSpec:
    """What the output file is: its format and, for CSV, its encoding."""

    format: OutputFormat
    encoding: str | None = None  # CSV only: "utf-8-sig" (default) or "gbk"

    @property
    def label(self) -> str:
        if self.format is OutputFormat.CSV:
            return "CSV, GBK" if self.encoding == "gbk" else "CSV, UTF-8 with BOM"
        return self.format.value.upper() if self.format is OutputFormat.XLSX else "Parquet"


def resolve(fmt: str | None, encoding: str | None, out: str | os.PathLike) -> OutputSpec:
    """The output's format from ``--format`` or else the file's extension (CSV
    when neither says), and its encoding.

    Example: resolve(None, "gbk", "vendor.csv") -> OutputSpec(CSV, "gbk")
    """
    if fmt:
        try:
            kind = OutputFormat(fmt.strip().lower())
        except ValueError:
            raise UsageError(f"--format must be csv, xlsx or parquet (got {fmt!r})") from None
    else:
        kind = _BY_SUFFIX.get(Path(out).suffix.lower(), OutputFormat.CSV)
    if encoding is None:
        return OutputSpec(kind, "utf-8-sig" if kind is OutputFormat.CSV else None)
    if kind is not OutputFormat.CSV:
        raise UsageError(f"--encoding applies to CSV output only (this output is {kind.value})")
    enc = _ENCODINGS.get(encoding.strip().lower())
    if enc is None:
        raise UsageError(f"--encoding must be utf-8 or gbk (got {encoding!r})")
    return OutputSpec(kind, enc)


def write(con: duckdb.DuckDBPyConnection, query: str, columns: list[str], spec: OutputSpec, tmp: Path,
          raw: Path) -> tuple[str, int]:
    """Write ``query``'s rows to ``tmp`` (``raw`` is scratch space beside it),
    synced; return (sha256 of the file's bytes, size)."""
    if spec.format is OutputFormat.XLSX:
        _write_xlsx(con, query, columns, tmp)
    elif spec.format is OutputFormat.PARQUET:
        cast = ", ".join(f"CAST({qident(c)} AS VARCHAR) AS {qident(c)}" for c in columns)
        con.execute(f"COPY (SELECT {cast} FROM ({query})) TO {_sql_str(str(tmp))} "
                    "(FORMAT parquet, COMPRESSION zstd)")
    else:
        con.execute(f"COPY ({query}) TO {_sql_str(str(raw))} (FORMAT csv, HEADER true, QUOTE '\"')")
        if spec.encoding == "gbk":
            return _transcode_gbk(con, query, columns, raw, tmp)
        return _copy_with_bom(raw, tmp)
    return _sync_and_hash(tmp)


def _copy_with_bom(raw: Path, tmp: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    nbytes = 0
    with open(raw, "rb") as src, open(tmp, "wb") as dst:
        bom = codecs.BOM_UTF8
        dst.write(bom)
        h.update(bom)
        nbytes += len(bom)
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            h.update(chunk)
            nbytes += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return h.hexdigest(), nbytes


def _transcode_gbk(con, query: str, columns: list[str], raw: Path, tmp: Path) -> tuple[str, int]:
    """UTF-8 CSV -> GBK, strictly: a character GBK cannot hold fails the
    export with the column it is in (never the value)."""
    h = hashlib.sha256()
    nbytes = 0
    enc = codecs.getincrementalencoder("gbk")(errors="strict")
    with open(raw, "r", encoding="utf-8", newline="") as src, open(tmp, "wb") as dst:
        while True:
            text = src.read(CHUNK)
            try:
                data = enc.encode(text, final=not text)
            except UnicodeEncodeError as e:
                bad = e.object[e.start:e.end]
                raise _gbk_error(con, query, columns, bad) from None
            dst.write(data)
            h.update(data)
            nbytes += len(data)
            if not text:
                break
        dst.flush()
        os.fsync(dst.fileno())
    return h.hexdigest(), nbytes


def _gbk_error(con, query: str, columns: list[str], bad: str) -> TracerError:
    """Name the first column holding the character (found in SQL, not by
    scanning rows in Python); the header itself may hold it too."""
    for c in columns:
        if any(ch in c for ch in bad):
            return TracerError("a column name cannot be written in GBK; use the default UTF-8", column=c)
    found = con.execute(f"SELECT {', '.join(f'bool_or(contains({qident(c)}, ?))' for c in columns)} "
                        f"FROM ({query})", [bad] * len(columns)).fetchone()
    col = next((c for c, hit in zip(columns, found) if hit), None)
    return TracerError("a value cannot be written in GBK (a character outside GBK); "
                       "use the default UTF-8 or remove the character", column=col)


def _write_xlsx(con, query: str, columns: list[str], tmp: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils.exceptions import IllegalCharacterError

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("export")
    ws.append(list(columns))

    def text_cell(v: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=v)
        cell.data_type = "s"  # never a formula, never a number
        return cell

    reader = con.execute(f"SELECT {', '.join(qident(c) for c in columns)} FROM ({query})") \
        .to_arrow_reader(XLSX_BATCH)
    for batch in reader:
        cols = [a.to_pylist() for a in batch.columns]
        for row in zip(*cols):
            # openpyxl writes every str as a string cell; only "=..." would be
            # taken for a formula, so those get an explicit text cell.
            vals = [text_cell(v) if isinstance(v, str) and v.startswith("=") else
                    (str(v) if v is not None and not isinstance(v, str) else v) for v in row]
            try:
                ws.append(vals)
            except IllegalCharacterError:
                col = next((c for c, v in zip(columns, vals) if isinstance(v, str) and _illegal(v)), None)
                raise TracerError("a value holds a control character XLSX cannot store; use CSV",
                                  column=col) from None
    wb.save(str(tmp))


def _illegal(v: str) -> bool:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.search(v) is not None


def _sync_and_hash(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    nbytes = 0
    with open(path, "rb+") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            nbytes += len(chunk)
        os.fsync(f.fileno())
    return h.hexdigest(), nbytes


def db_error(e: duckdb.Error) -> str:
    return f"cannot write the output ({safe_detail(e)})"
