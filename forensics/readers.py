"""Reading tables (export sources and leaks) into DuckDB, every cell as text.

Text, because ID numbers and phones must keep every digit and a leading zero.
Encodings DuckDB cannot read here (GBK/GB18030, UTF-16) are decoded in
Python and streamed to a temporary UTF-8 copy; detection tries the byte
order mark, strict UTF-8 and strict GB18030 before anything statistical, so
it holds on a 20-row file.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from canary.errors import UnreadableFile, safe_detail

_CHUNK = 1 << 20


@dataclass
class TableInfo:
    """What was read and how: shown in reports so a reader can check it."""

    table: str
    path: str
    columns: list[str]
    rows: int
    format: str
    encoding: str
    delimiter: str | None = None
    header: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "encoding": self.encoding,
                "delimiter": self.delimiter, "header": self.header, "rows": self.rows,
                "columns": self.columns, "notes": self.notes}


def check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise UnreadableFile("no such file", path=str(p))
    if p.is_dir():
        raise UnreadableFile("is a directory, not a file", path=str(p))
    if not os.access(p, os.R_OK):
        raise UnreadableFile("permission denied", path=str(p))
    if p.stat().st_size == 0:
        raise UnreadableFile("file is empty", path=str(p))
    return p


def detect_encoding(path: Path) -> str:
    """BOM, then strict UTF-8 over the whole file, then strict GB18030."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if _decodes(path, "utf-8"):
        return "utf-8"
    if _looks_utf16(path):
        return _looks_utf16(path)
    if _decodes(path, "gb18030"):
        return "gb18030"
    raise UnreadableFile("not text in UTF-8, UTF-16 or GB18030 (binary?)", path=str(path))


def _decodes(path: Path, encoding: str) -> bool:
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                if b"\x00" in chunk and encoding != "utf-16":
                    return False
                dec.decode(chunk)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_utf16(path: Path) -> str | None:
    """UTF-16 without a BOM: ASCII-heavy text has a zero in every other byte."""
    with open(path, "rb") as f:
        sample = f.read(4096)
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le" if _decodes(path, "utf-16-le") else None
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be" if _decodes(path, "utf-16-be") else None
    return None


def _transcode(path: Path, encoding: str, tmpdir: str) -> Path:
    fd, out = tempfile.mkstemp(suffix=path.suffix or ".txt", dir=tmpdir)
    with open(path, "r", encoding=encoding, newline="") as src, os.fdopen(fd, "w", encoding="utf-8",
                                                                         newline="") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
    return Path(out)


def _sniff_delimiter(text_path: Path) -> str:
    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        head = f.read(64 * 1024)
    lines = [ln for ln in head.splitlines()[:50] if ln.strip()]
    if not lines:
        raise UnreadableFile("no rows", path=str(text_path))
    best, best_score = ",", -1.0
    for d in (",", "\t", ";", "|"):
        counts = [ln.count(d) for ln in lines]
        if counts[0] == 0:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = consistent * 10 + min(counts[0], 50) / 50
        if score > best_score:
            best, best_score = d, score
    return best


def read_table(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, table: str, *,
               tmpdir: str | None = None) -> TableInfo:
    """Read a CSV/TSV/JSON/JSONL file into TEMP TABLE ``table`` (all VARCHAR,
    source order kept as rowid)."""
    p = check_file(path)
    suffix = p.suffix.lower()
    tmpdir = tmpdir or tempfile.gettempdir()
    encoding = detect_encoding(p)
    text_path = p if encoding in ("utf-8", "utf-8-sig") else _transcode(p, encoding, tmpdir)
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            return _read_json(con, p, text_path, table, encoding)
        return _read_csv(con, p, text_path, table, encoding)
    finally:
        if text_path != p:
            text_path.unlink(missing_ok=True)


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _read_csv(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    delim = _sniff_delimiter(text_path)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv({_sql_str(str(text_path))}, "
            f"all_varchar = true, header = true, delim = {_sql_str(delim)}, quote = '\"', escape = '\"', "
            f"null_padding = true, strict_mode = false, sample_size = -1)")
    except duckdb.Error as e:
        raise UnreadableFile(f"cannot parse as delimited text ({safe_detail(e)})", path=str(p)) from None
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    fmt = "tsv" if delim == "\t" else "csv"
    return TableInfo(table, str(p), cols, rows, fmt, encoding, delim)


def _read_json(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    try:
        src = f"read_json({_sql_str(str(text_path))}, format = 'auto')"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        casts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in (x.replace('"', '""') for x in cols))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {casts} FROM {src}")
    except duckdb.Error as e:
        raise UnreadableFile(f"cannot parse as JSON records ({safe_detail(e)})", path=str(p)) from None
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    fmt = "jsonl" if p.suffix.lower() in (".jsonl", ".ndjson") else "json"
    return TableInfo(table, str(p), list(cols), rows, fmt, encoding)


