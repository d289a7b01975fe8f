"""Why a delimited file does not parse cleanly, located by row and column.

Used only on the error path of forensics.readers: DuckDB reads a file
strictly first; when that fails, these functions find the first bad row
(ragged, an unclosed quote, a field over the line limit, a NUL byte) so the
error names the file, the row (as a spreadsheet numbers it: the header is
row 1) and the column, never the cell's value.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

from canary.errors import UnreadableFile

MAX_LINE_BYTES = 2_000_000  # DuckDB's default max_line_size: no sane customer row comes near it
_CHUNK = 1 << 20


def diagnose(text_path: Path, shown: Path, delim: str, header: bool, skip: int = 0) -> UnreadableFile | None:
    """The first defect of a delimited UTF-8 file whose table starts after
    ``skip`` lines (a title), or None if none is found."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        with open(text_path, "r", encoding="utf-8-sig", newline="") as f:
            for _ in range(skip):
                f.readline()
            reader = csv.reader(f, delimiter=delim, strict=True)
            names: list[str] | None = None
            width = None
            n = skip  # rows numbered as in the file (and a spreadsheet)
            try:
                for row in reader:
                    n += 1
                    if not row or not any(c.strip() for c in row):
                        continue
                    if width is None:
                        width = len(row)
                        names = row if header else None
                    problem = _check_row(row, width)
                    if problem:
                        message, col = problem
                        column = (names[col] if names and col is not None and col < len(names)
                                  else (f"column {col + 1}" if col is not None else None))
                        return UnreadableFile(message, path=str(shown), row=n, column=column)
            except csv.Error:
                return UnreadableFile("a quoted value is never closed or a quote is misplaced (truncated file?)",
                                      path=str(shown), row=n + 1)
    except UnicodeDecodeError:
        return invalid_text(text_path, shown, "utf-8-sig")
    finally:
        csv.field_size_limit(old_limit)
    return None


RAGGED = "(ragged or truncated)"  # ends the message of a row with another number of fields


def is_ragged(error: BaseException | None) -> bool:
    """Is ``error`` (from diagnose) a row with another number of fields than the first?"""
    return error is not None and str(error).endswith(RAGGED)


def _check_row(row: list[str], width: int) -> tuple[str, int | None] | None:
    for i, cell in enumerate(row):
        if "\x00" in cell:
            return "contains a NUL byte (binary data?)", i
        size = len(cell.encode("utf-8"))
        if size > MAX_LINE_BYTES // 2:
            return f"a {size / 1e6:.1f} MB value: a row may hold at most {MAX_LINE_BYTES / 1e6:g} MB", i
    if len(row) != width:
        return f"has {len(row)} fields where the first row has {width} {RAGGED}", None
    return None


def invalid_text(path: Path, shown: Path, encoding: str) -> UnreadableFile:
    """Where strict decoding fails (or the first NUL byte is), by row."""
    # utf-8-sig's decoder drops the BOM and counts bytes after it (a fault at byte 3 read "byte 0");
    # the BOM is valid UTF-8, so plain UTF-8 finds the same faults at the file's own offsets.
    plain = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
    dec = codecs.getincrementaldecoder(plain)(errors="strict")
    offset, newlines = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            nul = chunk.find(b"\x00")
            try:
                dec.decode(chunk if nul < 0 else chunk[:nul])
            except UnicodeDecodeError as e:
                row = newlines + chunk[:e.start].count(b"\n") + 1
                return UnreadableFile(f"not valid {encoding_label(encoding)} at byte {offset + e.start:,} "
                                      "(truncated, binary or another encoding?)", path=str(shown), row=row)
            if nul >= 0:
                row = newlines + chunk[:nul].count(b"\n") + 1
                return UnreadableFile("contains a NUL byte (binary data?)", path=str(shown), row=row)
            newlines += chunk.count(b"\n")
            offset += len(chunk)
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return UnreadableFile(f"ends in the middle of a {encoding_label(encoding)} character (truncated?)",
                                  path=str(shown), row=newlines + 1)
    return UnreadableFile(f"not valid {encoding_label(encoding)}", path=str(shown))


def encoding_label(encoding: str) -> str:
    """An encoding as a message names it: UTF-8, GB18030, UTF-16."""
    return "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
