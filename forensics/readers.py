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
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from canary.errors import TracerError, UnreadableFile, safe_detail
from canary.kinds import Kind

from .csvcheck import MAX_LINE_BYTES, diagnose, encoding_label, invalid_text, is_ragged
from .duck import is_interrupt, qident

_CHUNK = 1 << 20
_BIG_CHUNK = 1 << 24  # UTF-8 validation reads this much at a time
_DATA_KINDS = (Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.DATE, Kind.AMOUNT)
MAX_TITLE_LINES = 3  # lines above a delimited file's header that hold no delimiter (a report's title, a date)


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
    # Why a strict parse failed (ragged rows...): a leak is still read
    # leniently, an export source is refused with this error.
    malformed: TracerError | None = field(default=None, repr=False, compare=False)
    skipped_lines: int = 0  # lines above the header that are not part of the table (a title)
    renamed: dict[str, str] = field(default_factory=dict)  # column as the file names it -> as read

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
        if not _decodes(path, "utf-8-sig"):
            raise invalid_text(path, path, "utf-8-sig")
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if _decodes(path, "utf-8"):
        return "utf-8"
    if _looks_utf16(path):
        return _looks_utf16(path)
    if _decodes(path, "gb18030"):
        return "gb18030"
    # Name the place in the encoding the file reads longest in: a GBK list with one bad byte
    # deep inside fails UTF-8 at its first Chinese character, and that is not where it is broken.
    where = max((invalid_text(path, path, enc) for enc in ("utf-8", "gb18030")), key=lambda e: e.row or 0)
    raise UnreadableFile(f"not text in UTF-8, UTF-16 or GB18030 ({where.message})", path=str(path), row=where.row)


def _decodes(path: Path, encoding: str) -> bool:
    if encoding in ("utf-8", "utf-8-sig"):
        return _valid_utf8(path)
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                if b"\x00" in chunk and not encoding.startswith("utf-16"):
                    return False
                dec.decode(chunk)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _valid_utf8(path: Path) -> bool:
    """Strict UTF-8 and no NUL, checked by Arrow's validator (about 3x
    Python's decoder, which stays the reference: a test holds them equal)."""
    import numpy as np
    import pyarrow as pa

    carry = b""
    with open(path, "rb") as f:
        while chunk := f.read(_BIG_CHUNK):
            data = carry + chunk
            if b"\x00" in data:
                return False
            # Cut before a character split by the chunk edge; it starts the next chunk.
            end = len(data)
            while end > 0 and len(data) - end < 4 and data[end - 1] & 0xC0 == 0x80:
                end -= 1
            if end > 0 and data[end - 1] >= 0xC0:
                end -= 1
            carry, data = data[end:], data[:end]
            offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
            try:
                pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
            except pa.ArrowInvalid:
                return False
    if carry:
        try:
            carry.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _has_nul(path: Path) -> bool:
    with open(path, "rb") as f:
        return any(b"\x00" in chunk for chunk in iter(lambda: f.read(_BIG_CHUNK), b""))


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


def _transcode(path: Path, encoding: str, tmpdir: str, errors: str = "strict") -> Path:
    """The file as UTF-8 in ``tmpdir``; with errors="replace", bad bytes and NULs become U+FFFD."""
    fd, out = tempfile.mkstemp(suffix=path.suffix or ".txt", dir=tmpdir)
    with open(path, "r", encoding=encoding, errors=errors, newline="") as src, \
            os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk.replace("\x00", "\ufffd") if errors == "replace" else chunk)
    return Path(out)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> list[str]:
    """``text`` cut at the line breaks a CSV parser and readline() know (not
    str.splitlines, which also cuts at U+2028, form feeds and the like that
    a pasted address may hold inside a cell)."""
    lines = _LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _sniff_delimiter(text_path: Path, shown: Path) -> str | None:
    """The delimiter most of the first lines agree on, among those the first
    line holds; only if it holds none, up to MAX_TITLE_LINES lines may come
    before the table (a report's title)."""
    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        head = f.read(64 * 1024)
    lines = [ln for ln in _lines(head)[:50] if ln.strip()]
    if not lines:
        raise UnreadableFile("no rows", path=str(shown))
    for most_titles in (0, MAX_TITLE_LINES):
        best, best_score = None, -1.0
        for d in (",", "\t", ";", "|"):
            counts = [ln.count(d) for ln in lines]
            titles = next((i for i, c in enumerate(counts) if c), len(counts))
            if titles > most_titles or titles == len(counts):
                continue
            rest = counts[titles:]
            consistent = sum(1 for c in rest if c == rest[0]) / len(rest)
            if titles and (consistent < 0.8 or rest[0] < 2):
                continue  # lines without it, then no clear table of 3+ columns: not this delimiter
            score = consistent * 10 + min(rest[0], 50) / 50 - titles
            if score > best_score:
                best, best_score = d, score
        if best is not None:
            return best
    return None


def _delimiter_name(delim: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}.get(delim, repr(delim))


def _lines_above_header(text_path: Path, delim: str) -> int:
    """Lines before the first that holds ``delim``: blank ones and at most
    MAX_TITLE_LINES titles (no more: those are left to the strict parse)."""
    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        skipped = titles = 0
        while line := f.readline():
            if delim in line:
                return skipped
            titles += bool(line.strip())
            if titles > MAX_TITLE_LINES:
                return 0
            skipped += 1
    return 0


def sniff_format(path: Path) -> str:
    """By content first (a leak's name is not to be trusted), then by suffix."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    return "text"


def read_table(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, table: str, *,
               tmpdir: str | None = None) -> TableInfo:
    """Read a file into TEMP TABLE ``table`` (all VARCHAR, file order kept as rowid).

    Formats: CSV/TSV with any common delimiter, text pasted with runs of
    spaces, JSON array, JSONL, XLSX, XLS, Parquet; with or without a header row.
    Any failure is an UnreadableFile naming the file (and the row and column
    where they apply), never another exception.
    """
    try:
        return _drop_totals(con, _rename_reserved(con, _read_table(con, path, table, tmpdir)))
    except TracerError:
        raise
    except OSError as e:
        raise UnreadableFile(f"cannot read ({e.strerror or type(e).__name__})", path=str(path)) from None
    except Exception as e:  # a parser's own error on junk: one line, no value echoed
        if is_interrupt(e):
            raise KeyboardInterrupt from None
        raise UnreadableFile(f"cannot read as a table ({type(e).__name__}: {safe_detail(e)})",
                             path=str(path)) from None


# A list's closing rows that sum it up rather than name a customer.
_TOTALS = r"^(合\s*计|总\s*计|小\s*计|共\s*计|累\s*计)|^(grand\s+total|sub-?total|total|sum)\s*[:：]?$"
MAX_TOTAL_ROWS = 3


def _drop_totals(con: duckdb.DuckDBPyConnection, info: TableInfo) -> TableInfo:
    """Up to three last rows whose first filled cell is 合计, 总计, Total...
    are totals, not customers: left out of the table and said (notes that
    start with "not read:" reach an export's receipt). Exported, a total would
    be marked like a balance, and would no longer add up once amounts are
    marked and canaries added: a tell."""
    if info.rows == 0 or not info.columns:
        return info
    first = "coalesce(" + ", ".join(f"nullif(trim({qident(c)}), '')" for c in info.columns[:4]) + ")"
    filled = " + ".join(f"(coalesce(trim({qident(c)}), '') <> '')::INT" for c in info.columns)
    # A total names itself in its first filled cell and leaves most cells empty (no ID, no phone).
    few = max(2, len(info.columns) / 2)
    tail = con.execute(f"SELECT rowid, regexp_matches(lower({first}), ?) AND {filled} <= {few} FROM {info.table} "
                       f"ORDER BY rowid DESC LIMIT {MAX_TOTAL_ROWS + 1}", [_TOTALS]).fetchall()
    dropped = []
    for rowid, is_total in tail:
        if not is_total:
            break
        dropped.append(rowid)
    if not dropped or len(dropped) == info.rows:
        return info
    con.execute(f"DELETE FROM {info.table} WHERE rowid IN ({', '.join(map(str, dropped))})")
    info.rows -= len(dropped)
    info.notes.append(f"not read: the last {len(dropped)} row(s), totals (合计, Total...) rather than customers")
    return info


def _rename_reserved(con: duckdb.DuckDBPyConnection, info: TableInfo) -> TableInfo:
    """A column named ROWID (an Oracle dump has one) would hide DuckDB's row
    number, which keeps the file's order: it is renamed, and the notes say so."""
    taken = {c.lower() for c in info.columns}
    for i, name in enumerate(info.columns):
        if name.lower() != "rowid":
            continue
        k = 1
        while f"{name}_{k}".lower() in taken:
            k += 1
        new = f"{name}_{k}"
        con.execute(f"ALTER TABLE {info.table} RENAME COLUMN {qident(name)} TO {qident(new)}")
        taken.add(new.lower())
        info.columns[i] = new
        info.renamed[name] = new
        info.notes.append(f"column {name!r} is read as {new!r}: DuckDB's row number has that name")
    return info


def _read_table(con: duckdb.DuckDBPyConnection, path: str | os.PathLike, table: str,
                tmpdir: str | None) -> TableInfo:
    p = check_file(path)
    kind = sniff_format(p)
    if kind in ("xlsx", "xls"):
        from .spreadsheets import read_spreadsheet

        header, rows, notes, titles, stray = read_spreadsheet(p, kind)
        headed = not any(n.startswith("no header") for n in notes)
        if stray is not None:  # an export refuses it (info.malformed); a leak is read with the extra column
            from .csvcheck import RAGGED

            row, col = stray
            error = UnreadableFile(f"has a value in column {col}, right of the header's last name {RAGGED}",
                                   path=str(p), row=row)
            notes.append(f"read leniently: {error}")
        info = _load_rows(con, p, table, header, rows, kind, "binary", None, notes, header=headed)
        info.skipped_lines = titles
        if stray is not None:
            info.malformed = error
        return info
    if kind == "parquet":
        return _read_parquet(con, p, table)
    tmpdir = tmpdir or tempfile.gettempdir()
    guess = _utf8_by_its_head(p)
    if guess is not None:
        # Most files are UTF-8. DuckDB's CSV reader rejects any invalid UTF-8
        # byte in a header or value (tests pin it), so for delimited text its
        # load is the whole-file check and only NUL, which it keeps, is looked
        # for here; the other readers get the full check. A load that fails
        # on a file that is not UTF-8 after all is discarded, and the file
        # goes the way it always would.
        try:
            info = _read_text(con, p, p, table, guess)
        except Exception:
            if _valid_utf8(p):
                raise
        else:
            if (not _has_nul(p)) if info.format in ("csv", "tsv") else _valid_utf8(p):
                return info
    damaged = None
    try:
        encoding = detect_encoding(p)
    except UnreadableFile as e:
        # A few bad bytes in a text file (a leak cut or mangled in transit): read
        # with them replaced, and say so. A source is still refused (malformed).
        near = _nearly_text(p)
        if near is None:
            raise
        encoding, bad = near
        damaged = (e, bad)
    if damaged is None and encoding in ("utf-8", "utf-8-sig"):
        text_path = p
    else:
        text_path = _transcode(p, encoding, tmpdir, errors="replace" if damaged else "strict")
    try:
        info = _read_text(con, p, text_path, table, encoding)
    finally:
        if text_path != p:
            text_path.unlink(missing_ok=True)
    if damaged is not None:
        error, bad = damaged
        info.notes.append(f"{bad:,} byte sequence(s) that are not {encoding_label(encoding)} (or NUL) were read as "
                          f"U+FFFD: {error.message}" + (f", row {error.row}" if error.row else ""))
        info.malformed = info.malformed or error
    return info


_MOST_DAMAGE = 0.01  # replaced characters per character, at most, for a file still to count as text
_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _nearly_text(path: Path) -> tuple[str, int] | None:
    """(encoding, bad sequences) if the file is UTF-8 or GB18030 text with a
    few undecodable bytes or NULs (at most 1% of its characters), else None."""
    data = path.read_bytes()
    best = None
    for encoding in ("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8", "gb18030"):
        text = data.decode(encoding, errors="replace")
        bad = text.count("\ufffd") + text.count("\x00")
        controls = len(_CONTROLS.findall(text))  # random bytes decode as GB18030 too, but not as text
        if text and bad + controls <= _MOST_DAMAGE * len(text) and (best is None or bad < best[1]):
            best = (encoding, bad)
    return best



def _read_text(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        start = f.read(4096).lstrip()
    if start[:1] in ("[", "{"):
        return _read_json(con, p, text_path, table, encoding)
    return _read_csv(con, p, text_path, table, encoding)


def _utf8_by_its_head(path: Path) -> str | None:
    """"utf-8-sig" or "utf-8" if the file's first megabyte reads as UTF-8
    (a guess that _valid_utf8 confirms over the whole file), else None."""
    with open(path, "rb") as f:
        head = f.read(_CHUNK)
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE) or b"\x00" in head:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")(errors="strict").decode(head)  # a cut last character is fine
    except UnicodeDecodeError:
        return None
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _read_csv(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    delim = _sniff_delimiter(text_path, p)
    if delim is None:
        if _single_column(text_path):
            delim = ","
        else:
            return _read_whitespace(con, p, text_path, table, encoding)
    # DuckDB's sniffer would pick lines to skip itself, and can take a ragged
    # row for the header and drop every line above it: tracer says how many.
    skip = _lines_above_header(text_path, delim)
    first_rows = _first_rows(text_path, delim, skip)
    header = has_header(first_rows)
    names = None if header else [f"column{i + 1}" for i in range(max(len(r) for r in first_rows))]
    opts = f"names = {_sql_list(names)}, " if names else ""

    def load(strict: bool, skip_bad: bool = False) -> None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv({_sql_str(str(text_path))}, "
            f"all_varchar = true, header = {str(header).lower()}, {opts}delim = {_sql_str(delim)}, quote = '\"', "
            f"escape = '\"', skip = {skip}, null_padding = {str(not strict).lower()}, "
            f"strict_mode = {str(strict).lower()}, max_line_size = {MAX_LINE_BYTES}"
            f"{', ignore_errors = true' if skip_bad else ''})")

    # Strictly first (an export source must be well formed); a leak that is
    # not is read leniently, with the defect noted.
    malformed, dropped = None, False
    try:
        load(True)
    except duckdb.Error as e:
        # Only a defect we can point at counts (DuckDB's strict mode also
        # balks at, e.g., a carriage return inside quotes).
        malformed = diagnose(text_path, p, delim, header, skip)
        try:
            load(False)
        except duckdb.Error:
            # A row with more fields than the header (a leaker's stray comma) stops even the
            # lenient read: such rows are left out, and said, when the defect is one we can name.
            if not is_ragged(malformed):
                raise malformed or UnreadableFile(f"cannot parse as delimited text ({safe_detail(e)})",
                                                  path=str(p)) from None
            try:
                load(True, skip_bad=True)  # strict, each bad row skipped (the lenient sniffer balks)
            except duckdb.Error:
                raise malformed from None
            dropped = True
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    fmt = "tsv" if delim == "\t" else "csv"
    notes = [] if header else [f"no header row: columns typed by content alone and named column1..column{len(cols)}"]
    if header and first_rows:  # a blank or repeated header gets a name: the written file shows it
        notes += [f"header: column {i + 1}, {given.strip() or '(blank)'!r} in the file, is named {name!r}"
                  for i, (given, name) in enumerate(zip(first_rows[0], cols)) if given.strip() != name.strip()]
    if skip:
        notes.insert(0, f"skipped the first {skip} line(s) of the file: a title above the table, not rows of it "
                        f"(no {_delimiter_name(delim)})")
    if malformed is not None:
        notes.append(f"read leniently: {malformed}"
                     + ("; rows that could not be parsed were left out" if dropped else ""))
    return TableInfo(table, str(p), cols, rows, fmt, encoding, delim, header, notes, malformed=malformed,
                     skipped_lines=skip)


def _single_column(text_path: Path) -> bool:
    """One value per line (a bare list of phone numbers, say)."""
    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        lines = [ln.strip() for ln in _lines(f.read(64 * 1024))[:50] if ln.strip()]
    return all(" " not in ln and "\t" not in ln for ln in lines)


def _first_rows(text_path: Path, delim: str, skip: int = 0, n: int = 50) -> list[list[str]]:
    import csv

    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        for _ in range(skip):
            f.readline()
        head = f.read(256 * 1024)
    lines = _lines(head)[:n]
    old_limit = csv.field_size_limit(1 << 30)  # a huge cell is diagnosed later, not here
    try:
        return [r for r in csv.reader(lines, delimiter=delim) if any(c.strip() for c in r)] or [[""]]
    finally:
        csv.field_size_limit(old_limit)


def has_header(rows: list[list[str]]) -> bool:
    """Is the first row a header? A header names columns; data carries values
    that validate (IDs, phones, dates, amounts)."""
    from .coltypes import content_scores, header_kind

    first = rows[0]
    hinted = sum(1 for c in first if header_kind(c) is not None)
    data_like = 0
    for c in first:
        scores = content_scores([c])
        if any(scores.get(k, 0) == 1.0 for k in _DATA_KINDS) or _looks_numeric(c):
            data_like += 1
    if data_like == 0:
        return True
    return hinted > data_like


def _looks_numeric(v: str) -> bool:
    v = v.strip().replace(",", "")
    try:
        float(v)
        return True
    except ValueError:
        return False


def _read_whitespace(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    """Text pasted from a chat or a web page: columns separated by runs of spaces."""

    with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
        lines = [ln for ln in _lines(f.read()) if ln.strip()]
    for splitter in (re.compile(r"\s{2,}"), re.compile(r"\s+")):
        rows = [splitter.split(ln.strip()) for ln in lines]
        widths = {len(r) for r in rows}
        if len(widths) <= 2 and max(widths) >= 2:
            break
    else:
        raise UnreadableFile("no consistent columns (not a table?)", path=str(p))
    header = has_header(rows[:50])
    width = max(len(r) for r in rows)
    names = rows[0] if header else [f"column{i + 1}" for i in range(width)]
    body = rows[1:] if header else rows
    notes = ["columns split on runs of spaces"] + ([] if header else ["no header row: columns typed by content alone"])
    return _load_rows(con, p, table, names, body, "text", encoding, " ", notes, header=header)


def _load_rows(con, p: Path, table: str, names: list[str], rows: list[list], fmt: str, encoding: str,
               delim: str | None, notes: list[str], header: bool = True) -> TableInfo:
    """Load rows parsed in Python (spreadsheets, pasted text) as an all-text table."""
    import pyarrow as pa

    names = _unique_names(names)
    width = len(names)
    cols = [[(r[i] if i < len(r) else None) for r in rows] for i in range(width)]
    arrow = pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, cols)})
    con.register("__tracer_rows", arrow)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM __tracer_rows")
    finally:
        con.unregister("__tracer_rows")
    return TableInfo(table, str(p), names, len(rows), fmt, encoding, delim, header, notes)


def _unique_names(names: list) -> list[str]:
    out, seen = [], set()
    for i, n in enumerate(names):
        n = str(n).strip() if n is not None and str(n).strip() else f"column{i + 1}"
        base, k = n, 2
        while n in seen:
            n, k = f"{base}_{k}", k + 1
        seen.add(n)
        out.append(n)
    return out


def _load_as_text(con, src: str, table: str, p: Path, what: str,
                  zones: dict[str, str] | None = None) -> tuple[list[str], int]:
    """TEMP TABLE ``table`` from a DuckDB table function, every column cast to
    text; a column in ``zones`` (name -> IANA zone) is a timestamp written as
    its wall-clock time in that zone."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        cols = [r[0] for r in described]
        zones = zones or {}
        casts = ", ".join(f"{_as_text(qident(c), typ, zones.get(c))} AS {qident(c)}" for c, typ, *_ in described)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {casts} FROM {src}")
    except duckdb.Error as e:
        raise UnreadableFile(f"cannot {what} ({safe_detail(e)})", path=str(p)) from None
    return cols, con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _as_text(col: str, typ: str, zone: str | None = None) -> str:
    """SQL of a column as text. A JSON column (values of mixed types: an ID
    number written as a number in some records and a string in others) gives
    its strings without their JSON quotes; a timestamp with a ``zone`` its
    wall-clock time there."""
    if zone is not None:
        return f"CAST(timezone({_sql_str(zone)}, {col}) AS VARCHAR)"
    if typ == "JSON":
        return (f"CASE WHEN json_type({col}) = 'VARCHAR' THEN json_extract_string({col}, '$') "
                f"ELSE CAST({col} AS VARCHAR) END")
    return f"CAST({col} AS VARCHAR)"


def _read_parquet(con, p: Path, table: str) -> TableInfo:
    # DuckDB reads a timestamp with a zone as an instant and would write it in
    # UTC: 2024-03-03 00:00 in Shanghai became 2024-03-02 16:00, another day.
    try:
        import pyarrow.parquet as pq

        schema = pq.read_schema(str(p))
        recorded = {f.name: f.type.tz for f in schema if _is_zoned(f.type)}
        zones = {c: z for c, z in ((c, _duck_zone(con, tz)) for c, tz in recorded.items()) if z}
    except Exception:  # DuckDB's reader reports a damaged file
        recorded, zones = {}, {}
    cols, rows = _load_as_text(con, f"read_parquet({_sql_str(str(p))})", table, p, "read as Parquet", zones)
    notes = [f"column {c!r}: times in {recorded[c]}, the zone the file records" for c in zones]
    return TableInfo(table, str(p), cols, rows, "parquet", "binary", notes=notes)


def _duck_zone(con, tz: str) -> str | None:
    """The zone as DuckDB names it ("+08:00" is Etc/GMT-8), or None if it has none."""
    m = re.fullmatch(r"([+-])(\d{2}):?00", tz)
    if m:
        hours = int(m.group(2))
        tz = "UTC" if hours == 0 else f"Etc/GMT{'-' if m.group(1) == '+' else '+'}{hours}"
    try:
        con.execute("SELECT timezone(?, TIMESTAMPTZ '2000-01-01 00:00:00+00')", [tz])
    except duckdb.Error:
        return None
    return tz


def _is_zoned(typ) -> bool:
    import pyarrow as pa

    return pa.types.is_timestamp(typ) and typ.tz is not None and typ.tz not in ("UTC", "+00:00", "Z")


def _sql_list(names: list[str]) -> str:
    return "[" + ", ".join(_sql_str(n) for n in names) + "]"


def _read_json(con, p: Path, text_path: Path, table: str, encoding: str) -> TableInfo:
    src = f"read_json({_sql_str(str(text_path))}, format = 'auto')"
    notes: list[str] = []
    try:
        src = _json_records(con, src, notes)
    except duckdb.Error:
        pass  # _load_as_text names the parse error
    cols, rows = _load_as_text(con, src, table, p, "parse as JSON records")
    fmt = "jsonl" if p.suffix.lower() in (".jsonl", ".ndjson") else "json"
    return TableInfo(table, str(p), list(cols), rows, fmt, encoding, notes=notes)


def _json_records(con, src: str, notes: list[str]) -> str:
    """A JSON document's records as flat columns: the records of a wrapper
    object ({"total": 2, "data": [...]}, or one level deeper: {"result":
    {"data": [...]}}; of its lists of objects, the one whose objects have the
    most fields, then the longest) and every nested object's fields as
    columns of their own, named by the field (by its path, parent.child,
    where two share a name). Read as they were, a wrapper was one row and a
    nested record one column of JSON text, with no identifier to link: a
    leak from this bank reported as unrelated."""
    described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
    if not any(_is_struct(typ) or _is_records(typ) for _, typ, *_ in described):
        return src  # flat records: as DuckDB reads them
    leaves = [leaf for c, typ, *_ in described for leaf in
              (_struct_leaves(con, src, qident(c), c) if _is_struct(typ) else [(qident(c), c, typ)])]
    if con.execute(f"SELECT count(*) FROM {src}").fetchone()[0] == 1:
        lists = [(expr, path, t) for expr, path, t in leaves if _is_records(t)]
        own = sum(not t.endswith("[]") for _, _, t in leaves)  # the object's own values (a code, a total)

        def shape(item):  # (fields of its objects, how many)
            expr = item[0]
            fields = len(con.execute(f"DESCRIBE SELECT unnest({expr}, recursive := true) FROM {src}").fetchall())
            return fields, con.execute(f"SELECT len({expr}) FROM {src}").fetchone()[0] or 0

        shapes = [shape(item) for item in lists]
        best, (fields, count) = max(zip(lists, shapes), key=lambda x: x[1]) if lists else (None, (0, 0))
        # A wrapper, not one customer with a list of accounts: its records say more than it does.
        if best is not None and fields >= own and count >= 1:
            same = [item for item in lists if item[2] == best[2]]  # records split over lists (active, closed)
            src = "(" + " UNION ALL ".join(f"SELECT unnest({expr}) AS __record FROM {src}" for expr, _, _ in same) + ")"
            notes.append(f"records read from the file's {', '.join(repr(p) for _, p, _ in same)} "
                         f"list{'s' if len(same) > 1 else ''}")
            return _flat_select(src, _struct_leaves(con, src, qident("__record"), ""), notes)
    return _flat_select(src, leaves, notes)


def _flat_select(src: str, leaves: list[tuple[str, str, str]], notes: list[str]) -> str:
    """SELECT of the leaves, each named by its field where no other leaf has
    that name (a header hint reads the field: customer.id is no customer
    number), else by its path."""
    names = [path.rsplit(".", 1)[-1] for _, path, _ in leaves]
    counts = {n: names.count(n) for n in names}
    cols = [(expr, name if counts[name] == 1 else path) for (expr, path, _), name in zip(leaves, names)]
    if any("." in path for _, path, _ in leaves):
        notes.append("nested fields read as columns of their own")
    return f"(SELECT {', '.join(f'{expr} AS {qident(name)}' for expr, name in cols)} FROM {src})"


def _struct_leaves(con, src: str, expr: str, name: str) -> list[tuple[str, str, str]]:
    """(SQL, path, type) of every leaf field of the struct ``expr`` (a list
    is a leaf), nested ones as parent.child."""
    out = []
    for field_name, typ, *_ in con.execute(f"DESCRIBE SELECT unnest({expr}) FROM {src}").fetchall():
        sub, path = f"{expr}.{qident(field_name)}", f"{name}.{field_name}" if name else field_name
        out.extend(_struct_leaves(con, src, sub, path) if _is_struct(typ) else [(sub, path, typ)])
    return out


def _is_struct(typ: str) -> bool:
    return typ.startswith("STRUCT(") and typ.endswith(")")


def _is_records(typ: str) -> bool:
    """A list of objects."""
    return typ.startswith("STRUCT(") and typ.endswith(")[]")


