"""Output formats: CSV (UTF-8 with a BOM, or GBK), XLSX (every cell text), Parquet (all VARCHAR).

Each writer takes Arrow batches whose columns are already the cells to
write (tracer.assemble makes them, in file order), writes the final bytes to
a temporary path, syncs it, and returns the sha256 and size of exactly those
bytes, hashed as they are written. CSV is encoded with Arrow compute and
Parquet by Arrow's writer; only XLSX goes row by row through Python
(openpyxl write-only mode), because no columnar XLSX writer exists.

Text everywhere is deliberate: an ID number, phone or customer number
written as a number loses its leading zeros, its X check character or
digits beyond 15 (Excel), and an amount written as a float can lose its
exact decimal text, which the amount marks live in.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from canary.errors import TracerError, UsageError
from forensics.duck import value_buffers

CHUNK = 1 << 20
XLSX_BATCH = 10_000


def check_output_path(out: Path, flag: str, *, inputs: dict[str, str] | None = None, home=None) -> None:
    """Refuse, before any work, an output that could not be written safely or
    would destroy something: a folder, a device or pipe (tracer writes a new
    file and renames it into place, which would replace /dev/null itself), a
    missing or read-only folder, one of the inputs, or tracer's own store,
    keys or journal. ``inputs``: {what: path}, e.g. {"the source": src}."""
    try:
        if out.exists() and out.is_dir():
            raise UsageError(f"{flag} is a directory; give a file name", path=str(out))
        if out.exists() and not out.is_file():
            raise UsageError(f"{flag} is not a regular file (a device, pipe or socket): give a file name",
                             path=str(out))
        out = out.expanduser().resolve()
    except OSError as e:  # a name too long for the file system, say
        raise UsageError(f"{flag} cannot be a file here ({e.strerror})", path=str(out)) from None
    if not out.parent.exists():
        raise TracerError("output folder does not exist", path=str(out.parent))
    if not out.parent.is_dir():
        raise TracerError("output folder is a file, not a folder", path=str(out.parent))
    if not os.access(out.parent, os.W_OK):
        raise TracerError("output folder is not writable", path=str(out.parent))
    for what, given in (inputs or {}).items():
        src = Path(given).expanduser()
        if src.exists() and src.resolve() == out.resolve():
            raise UsageError(f"{flag} would overwrite {what}", path=str(out))
    harm = home.protected(out) if home is not None else None
    if harm:
        raise UsageError(f"{flag} would {harm}", path=str(out))


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
        named = _BY_SUFFIX.get(Path(out).suffix.lower())
        if named is not None and named is not kind:  # a workbook named .csv opens as garbage
            raise UsageError(f"--format {kind.value} contradicts the output's name "
                             f"{Path(out).name!r} ({named.value}): name the file for its format")
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


def write(batches: Iterable[pa.RecordBatch], columns: list[str], spec: OutputSpec,
          tmp: Path) -> tuple[str, int]:
    """Write the rows (text columns, in file order) to ``tmp``, synced;
    return (sha256 of the file's bytes, size)."""
    if spec.format is OutputFormat.XLSX:
        _write_xlsx(batches, columns, tmp)
    elif spec.format is OutputFormat.PARQUET:
        schema = pa.schema([(c, pa.string()) for c in columns])
        with pq.ParquetWriter(str(tmp), schema, compression="zstd") as w:
            for batch in batches:
                w.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
    else:
        return _write_csv(batches, columns, spec.encoding == "gbk", tmp)
    return _sync_and_hash(tmp)


# CSV as DuckDB's COPY writes it (RFC 4180 quoting where a value holds a
# quote, comma, line break or '#', and for the empty string, so that it stays
# distinct from a missing value): tests/test_output_formats.py holds the two
# to the same bytes. Encoded with Arrow compute, a batch at a time.
_NEEDS_QUOTES = r'[",\n\r#]'
_SPECIAL_BYTES = (b'"', b",", b"\n", b"\r", b"#")


def _values(arr: pa.Array) -> memoryview:
    """The bytes of a string array's values, end to end."""
    offsets, data = value_buffers(arr)
    return memoryview(data[offsets[0]:offsets[-1]])


def csv_lines(arrays: Sequence[pa.Array | pa.ChunkedArray]) -> memoryview:
    """UTF-8 CSV lines for equally long string arrays (one line per row)."""
    cells = []
    for arr in arrays:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not pa.types.is_string(arr.type):
            arr = arr.cast(pa.string())
        raw = bytes(_values(arr))
        special = any(b in raw for b in _SPECIAL_BYTES)  # memchr: most columns need no regex
        needs = pc.equal(arr, "")
        if special:
            needs = pc.or_(needs, pc.match_substring_regex(arr, _NEEDS_QUOTES))
        if special or pc.any(needs).as_py():
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
            arr = pc.if_else(needs, quoted, arr)
        cells.append(arr)
    # The line break rides on the last cell, so the lines are built in one join, not copied twice.
    cells[-1] = pc.binary_join_element_wise(cells[-1], "", "\n", null_handling="replace", null_replacement="")
    return _values(pc.binary_join_element_wise(*cells, ",", null_handling="replace", null_replacement=""))


def _write_csv(batches: Iterable[pa.RecordBatch], columns: list[str], gbk: bool, tmp: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    nbytes = 0
    # Writing and hashing (both release the GIL) run in a helper thread while
    # the next batch is encoded; one batch waits at most, so memory stays flat.
    with open(tmp, "wb") as dst, ThreadPoolExecutor(max_workers=1) as writer:
        def put(data) -> None:
            dst.write(data)
            h.update(data)

        pending = None

        def send(data) -> None:
            nonlocal pending, nbytes
            if pending is not None:
                pending.result()
            pending = writer.submit(put, data)
            nbytes += len(data)

        if not gbk:
            send(codecs.BOM_UTF8)
        header = csv_lines([pa.array([c], pa.string()) for c in columns])
        send(_gbk(header, columns, None) if gbk else header)
        for batch in batches:
            if batch.num_rows:
                lines = csv_lines(batch.columns)
                send(_gbk(lines, columns, batch) if gbk else lines)
        if pending is not None:
            pending.result()
        dst.flush()
        os.fsync(dst.fileno())
    return h.hexdigest(), nbytes


def _gbk(utf8: memoryview, columns: list[str], batch: pa.RecordBatch | None) -> bytes:
    """UTF-8 -> GBK, strictly: a character GBK cannot hold fails the export
    with the column it is in (never the value)."""
    text = bytes(utf8).decode("utf-8")
    try:
        return text.encode("gbk")
    except UnicodeEncodeError as e:
        bad = e.object[e.start:e.end]
    if batch is None or any(ch in c for c in columns for ch in bad):
        col = next((c for c in columns if any(ch in c for ch in bad)), None)
        raise TracerError("a column name cannot be written in GBK; use the default UTF-8", column=col)
    col = next((c for c, arr in zip(columns, batch.columns)
                if pc.any(pc.match_substring(arr.cast(pa.string()), bad)).as_py()), None)
    raise TracerError("a value cannot be written in GBK (a character outside GBK); "
                      "use the default UTF-8 or remove the character", column=col)


XLSX_MAX_CELL = 32_767  # characters Excel keeps in a cell


def _write_xlsx(batches: Iterable[pa.RecordBatch], columns: list[str], tmp: Path) -> None:
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

    try:
        for batch in batches:
            for name, arr in zip(columns, batch.columns):  # Excel cuts longer cells when it opens the file
                longest = pc.max(pc.utf8_length(arr.cast(pa.string()))).as_py() if len(arr) else None
                if longest is not None and longest > XLSX_MAX_CELL:
                    raise TracerError(f"a value is longer than the {XLSX_MAX_CELL:,} characters an XLSX cell "
                                      "holds (Excel would cut it); use CSV", column=name)
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
    except BaseException:
        try:  # close the half-written workbook's stream (the caller removes the file)
            wb.save(str(tmp))
        except Exception:
            pass
        raise
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
