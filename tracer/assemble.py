"""The export's rows in file order, as Arrow batches, without a global sort.

Sorting a million wide rows to put canaries in place cost more than the
whole copy it fed (and the ORDER BY ran over a view of joins, so a second
pass to count formula cells ran them all again). Instead:

* the source is read back in rowid ranges: a plain scan of a DuckDB table
  keeps insertion order (checked here, and sorted if it ever did not);
* the marked values come from tracer.assemble.MarkedRanges (an Arrow file
  the identities stage wrote, one record batch per row range), aligned to
  the source rows and checked; under a filter, the filter is re-checked on
  the marked values and a row that would fall out keeps its originals;
* canaries (few) are spliced in after their anchor rows;
* formula-like text is neutralised here, with NumPy on each value's first
  byte before any regex runs, counting the rows it touched.

Each batch is then encoded by tracer.writers. Everything per row is Arrow
compute or NumPy; Python loops over chunks and canaries only.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary.errors import TracerError
from forensics.duck import qident, value_buffers

CHUNK_ROWS = 1 << 16  # source rows per batch: ~10 MB of a typical customer list

# OWASP CSV injection: a cell a spreadsheet would run as a formula starts with
# = + - @ (or a tab or carriage return). Numbers, phone numbers (-12.50,
# +86 138 0013 8000) and a lone "-" placeholder are left alone; anything else
# gets a leading quote. (RE2 syntax: the same engine as DuckDB's regexes.)
FORMULA_START = r"^[=+\-@\t\r]"
HARMLESS = r"^([+-]?([0-9][0-9,]*(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|\+?[0-9][0-9 ()-]*|-)$"
_FIRST_BYTES = np.frombuffer(b"=+-@\t\r", dtype=np.uint8)


def formula_mask(arr: pa.Array) -> np.ndarray | None:
    """Where a text cell would be read as a formula (None: nowhere)."""
    if arr.null_count == len(arr):
        return None
    offsets, data = value_buffers(arr)
    starts, lengths = offsets[:-1], np.diff(offsets)
    nonempty = lengths > 0
    if arr.null_count:
        nonempty &= arr.is_valid().to_numpy(zero_copy_only=False)
    first = np.zeros(len(arr), dtype=np.uint8)
    first[nonempty] = data[starts[nonempty]]
    candidates = np.flatnonzero(np.isin(first, _FIRST_BYTES) & nonempty)
    if not len(candidates):
        return None
    sub = arr.take(pa.array(candidates))
    bad = pc.and_(pc.match_substring_regex(sub, FORMULA_START),
                  pc.invert(pc.match_substring_regex(sub, HARMLESS))).to_numpy(zero_copy_only=False)
    if not bad.any():
        return None
    mask = np.zeros(len(arr), dtype=bool)
    mask[candidates[bad]] = True
    return mask


def neutralise(table: pa.Table) -> tuple[pa.Table, int]:
    """Prefix formula-like text with a single quote; return (table, rows touched)."""
    touched = np.zeros(table.num_rows, dtype=bool)
    for i, name in enumerate(table.column_names):
        col = table.column(i).combine_chunks()
        mask = formula_mask(col)
        if mask is None:
            table = table.set_column(i, name, col)  # combined once here, not again by the writer
            continue
        touched |= mask
        fixed = pc.if_else(pa.array(mask), pc.binary_join_element_wise("'", col, ""), col)
        table = table.set_column(i, name, fixed)
    return table, int(touched.sum())


def _ascending(table: pa.Table, key: str) -> pa.Table:
    """``table`` ordered by ``key`` (a no-op when already ordered, the usual case)."""
    k = table.column(key).to_numpy()
    if len(k) < 2 or bool(np.all(k[1:] > k[:-1])):
        return table
    return table.take(pa.array(np.argsort(k, kind="stable")))


class MarkedRanges:
    """The real rows' marked values (``__n_<column>``, with ``__o_<column>``,
    the originals, under a filter) and channel flags (``__f<i>``), one Arrow
    IPC record batch per range of ``rows_per_range`` source rows (``__r``
    ascending), in the export's scratch folder.

    Written as the identities stage keys each range, read back range by range
    as the file is written. A file and not a DuckDB table: inserting the
    values and sorting them back out cost more than computing them, and a
    batch read from a file leaves nothing resident once it is used."""

    def __init__(self, path: Path, rows_per_range: int):
        self.path, self.rows_per_range = path, rows_per_range
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._sink = None
        self._reader: pa.ipc.RecordBatchFileReader | None = None
        self._cached: tuple[int, pa.RecordBatch] | None = None
        self.ranges = 0

    def append(self, start: int, part: pa.Table) -> None:
        """The marks of source rows ``start .. start + rows_per_range - 1``;
        every range in order, an empty one included."""
        if start != self.ranges * self.rows_per_range:
            raise ValueError(f"marked ranges out of order: {start} after {self.ranges} ranges")
        part = _ascending(part, "__r")
        if self._writer is None:
            self.schema = part.schema
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_file(self._sink, part.schema)
        elif part.schema != self.schema:
            part = part.cast(self.schema)
        self._writer.write_batch(pa.RecordBatch.from_arrays(
            [c.combine_chunks() for c in part.columns], schema=part.schema))
        self.ranges += 1

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None

    def rows_for(self, r: np.ndarray, a: int, b: int) -> pa.Table:
        """The marks of exactly the source rows ``r`` (ascending, within [a, b))."""
        parts = []
        last = min((max(b, a + 1) - 1) // self.rows_per_range, self.ranges - 1)  # ranges past the list's end: none
        for k in range(a // self.rows_per_range, last + 1):
            batch = self._batch(k)
            lo, hi = np.searchsorted(batch.column("__r").to_numpy(), [a, b])
            parts.append(pa.Table.from_batches([batch.slice(lo, hi - lo)]))
        got = pa.concat_tables(parts) if parts else None
        have = got.column("__r").to_numpy() if got is not None else np.zeros(0, np.int64)
        if len(have) != len(r) and len(have):  # a filtered export: its rows among every source row's marks
            at = np.minimum(np.searchsorted(have, r), len(have) - 1)  # a row not held shows as a mismatch below
            got, have = got.take(pa.array(at)), have[at]
        if got is None or not np.array_equal(have, r):
            raise TracerError("internal error: marked values do not line up with the source rows; "
                              "nothing was written")
        return got

    def _batch(self, k: int) -> pa.RecordBatch:
        if self._cached is None or self._cached[0] != k:
            if self._reader is None:
                self.finish()
                self._reader = pa.ipc.open_file(pa.OSFile(str(self.path), "rb"))
            self._cached = (k, self._reader.get_batch(k))
        return self._cached[1]

    def close(self) -> None:
        self.finish()
        self._reader = self._cached = None
        self.path.unlink(missing_ok=True)


def _texts(table: pa.Table, columns: list[str]) -> pa.Table:
    return pa.table({c: table.column(c).cast(pa.string()) for c in columns})


@dataclass
class Assembly:
    """Streams an export's final rows; counts what it wrote as it goes."""

    ex: object  # tracer.export._Export after its mark stage
    neutralise_formulas: bool
    rows_written: int = 0
    neutralised_rows: int = 0
    reverted: int = 0  # rows the filter's re-check gave back their original values
    marked_counts: np.ndarray | None = None  # cells written marked, per channel
    canaries_written: dict[int, list] = field(default_factory=dict)  # canary no -> cells as written

    def batches(self) -> Iterator[pa.RecordBatch]:
        ex, con = self.ex, self.ex.con
        cols = list(ex.out_cols)
        marked = ex.mark_value_columns  # every marked column is an output column
        self.marked_counts = np.zeros(len(ex.mark_cols), np.int64)
        canaries = ex.canary_final  # marked and re-checked already, by anchor row
        if canaries.num_rows != len(ex.canary_rows):
            raise TracerError("internal error: canaries lost before writing; nothing was written", path=ex.info.path)
        can_anchor = canaries.column("__anchor").to_numpy()
        in_sel = " AND rowid IN (SELECT __r FROM sel WHERE __r >= $a AND __r < $b)" if ex.where else ""
        # The filter's re-check on marked values reads every column.
        wanted = "*" if ex.where and marked else ", ".join(qident(c) for c in cols)
        select = f"SELECT rowid AS __r, {wanted} FROM src WHERE rowid >= $a AND rowid < $b{in_sel}"

        def fetch(a: int) -> tuple[pa.Table, np.ndarray | None, int]:
            real = _ascending(con.execute(select, {"a": a, "b": a + CHUNK_ROWS}).to_arrow_table(), "__r")
            if not marked:
                return real, None, 0
            marks = ex.marks.rows_for(real.column("__r").to_numpy(), a, a + CHUNK_ROWS)
            return ex.apply_marks(real, marks)

        starts = list(range(0, ex.last_rowid + 1, CHUNK_ROWS))
        # The next range is read by DuckDB and marked (in a helper thread, the only
        # user of the connection meanwhile) while this one is encoded and written.
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = reader.submit(fetch, starts[0]) if starts else None
            for k, a in enumerate(starts):
                real, counts, reverted = ahead.result()
                ahead = reader.submit(fetch, starts[k + 1]) if k + 1 < len(starts) else None
                if counts is not None:
                    self.marked_counts += counts
                    self.reverted += reverted
                yield from self._finish(real, a, cols, canaries, can_anchor)

    def _finish(self, real, a, cols, canaries, can_anchor) -> Iterator[pa.RecordBatch]:
        """One range: canaries spliced in, formulas neutralised."""
        r = real.column("__r").to_numpy()
        part = _texts(real, cols)
        here = np.flatnonzero((can_anchor >= a) & (can_anchor < a + CHUNK_ROWS))
        mine = canaries.take(pa.array(here)) if len(here) else None
        if mine is not None:
            part = self._splice(part, r, mine, cols)
        if getattr(self.ex, "serial", None):  # a row-number column: numbered again over the rows as written
            name, first, width = self.ex.serial
            numbers = pc.cast(pa.array(np.arange(part.num_rows, dtype=np.int64) + first + self.rows_written),
                              pa.string())
            if width:
                numbers = pc.utf8_lpad(numbers, width=width, padding="0")
            part = part.set_column(part.column_names.index(name), name, numbers)
        if self.neutralise_formulas:
            part, n = neutralise(part)  # also leaves every column in one chunk
            self.neutralised_rows += n
        else:
            part = part.combine_chunks()
        if mine is not None:
            self._keep_canaries(part, r, mine)
        self.rows_written += part.num_rows
        yield from part.to_batches()

    @staticmethod
    def _splice(part: pa.Table, r: np.ndarray, can: pa.Table, cols: list[str]) -> pa.Table:
        """Canaries go right after their anchor row, in canary order (``can``
        is ordered so). Slices, not a gather: a take of every cell cost 6x more."""
        at = np.searchsorted(r, can.column("__anchor").to_numpy(), side="right")
        can = _texts(can, cols)
        pieces, prev = [], 0
        for j, pos in enumerate(at.tolist()):
            pieces += [part.slice(prev, pos - prev), can.slice(j, 1)]
            prev = pos
        pieces.append(part.slice(prev))
        return pa.concat_tables(pieces)  # chunked: neutralise or the writer combines each column once

    def _keep_canaries(self, part: pa.Table, r: np.ndarray, can: pa.Table) -> None:
        """The canaries' cells exactly as written (the lineage stores them whole)."""
        anchor = can.column("__anchor").to_numpy()
        # Output position of each canary: real rows up to its anchor + canaries before it here.
        pos = np.searchsorted(r, anchor, side="right") + np.arange(len(anchor))
        rows = part.take(pa.array(pos)).to_pylist()
        for c_no, row in zip(can.column("__c").to_pylist(), rows):
            self.canaries_written[int(c_no)] = list(row.values())
