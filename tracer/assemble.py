"""The export's rows in file order, as Arrow batches, without a global sort.

Sorting a million wide rows to put canaries in place cost more than the
whole copy it fed (and the ORDER BY ran over a view of joins, so a second
pass to count formula cells ran them all again). Instead:

* the source is read back in rowid ranges: a plain scan of a DuckDB table
  keeps insertion order (checked here, and sorted if it ever did not);
* the marked values come from a narrow table sorted once by anchor row
  (keys and marked columns only), aligned to the source rows and checked;
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


def _texts(table: pa.Table, columns: list[str]) -> pa.Table:
    return pa.table({c: table.column(c).cast(pa.string()) for c in columns})


@dataclass
class Assembly:
    """Streams an export's final rows; counts what it wrote as it goes."""

    ex: object  # tracer.export._Export after its mark stage
    neutralise_formulas: bool
    rows_written: int = 0
    neutralised_rows: int = 0
    canaries_written: dict[int, list] = field(default_factory=dict)  # canary no -> cells as written

    def batches(self) -> Iterator[pa.RecordBatch]:
        ex, con = self.ex, self.ex.con
        cols = list(ex.out_cols)
        marked = ex.mark_value_columns  # every marked column is an output column
        if marked:
            # Narrow: anchors and marked values only; sorted once so each chunk is a range read.
            con.execute(f"CREATE OR REPLACE TEMP TABLE marked_real AS SELECT __anchor, "
                        f"{', '.join(qident(c) for c in marked)} FROM marked_final WHERE __is_c = 0 "
                        f"ORDER BY __anchor")
        # Canaries straight from their own (few) rows, not through the view of every row.
        values = ", ".join(f"f.{qident(c)}" if c in marked else f"c.{qident(c)}" for c in cols)
        join = " JOIN marked_final f ON f.__is_c = 1 AND f.__c = c.__c AND f.__anchor = c.__anchor" if marked else ""
        canaries = con.execute(f"SELECT c.__anchor, c.__c, {values} FROM canary_rows c{join} "
                               f"ORDER BY c.__anchor, c.__c").to_arrow_table()
        if canaries.num_rows != len(ex.canary_rows):
            raise TracerError("internal error: canaries lost before writing; nothing was written", path=ex.info.path)
        can_anchor = canaries.column("__anchor").to_numpy()
        in_sel = " AND rowid IN (SELECT __r FROM sel WHERE __r >= $a AND __r < $b)" if ex.where else ""
        select = (f"SELECT rowid AS __r, {', '.join(qident(c) for c in cols)} FROM src "
                  f"WHERE rowid >= $a AND rowid < $b{in_sel}")
        marked_select = (f"SELECT __anchor, {', '.join(qident(c) for c in marked)} FROM marked_real "
                         f"WHERE __anchor >= $a AND __anchor < $b")

        def fetch(a: int) -> tuple[pa.Table, pa.Table | None]:
            bounds = {"a": a, "b": a + CHUNK_ROWS}
            real = _ascending(con.execute(select, bounds).to_arrow_table(), "__r")
            mv = _ascending(con.execute(marked_select, bounds).to_arrow_table(), "__anchor") if marked else None
            return real, mv

        starts = list(range(0, ex.last_rowid + 1, CHUNK_ROWS))
        # The next range is read by DuckDB (in a helper thread, the only user of
        # the connection meanwhile) while this one is encoded and written.
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = reader.submit(fetch, starts[0]) if starts else None
            for k, a in enumerate(starts):
                real, mv = ahead.result()
                ahead = reader.submit(fetch, starts[k + 1]) if k + 1 < len(starts) else None
                yield from self._finish(real, mv, a, marked, cols, canaries, can_anchor)

    def _finish(self, real, mv, a, marked, cols, canaries, can_anchor) -> Iterator[pa.RecordBatch]:
        """One range: marked values in place, canaries spliced in, formulas neutralised."""
        r = real.column("__r").to_numpy()
        if marked:
            if not np.array_equal(mv.column("__anchor").to_numpy(), r):
                raise TracerError("internal error: marked values do not line up with the source rows; "
                                  "nothing was written", path=self.ex.info.path)
            for c in marked:
                real = real.set_column(real.column_names.index(c), c, mv.column(c))
        part = _texts(real, cols)
        here = np.flatnonzero((can_anchor >= a) & (can_anchor < a + CHUNK_ROWS))
        mine = canaries.take(pa.array(here)) if len(here) else None
        if mine is not None:
            part = self._splice(part, r, mine, cols)
        if self.neutralise_formulas:
            part, n = neutralise(part)
            self.neutralised_rows += n
        if mine is not None:
            self._keep_canaries(part, r, mine)
        self.rows_written += part.num_rows
        yield from part.to_batches()

    @staticmethod
    def _splice(part: pa.Table, r: np.ndarray, can: pa.Table, cols: list[str]) -> pa.Table:
        """Canaries go right after their anchor row, in canary order."""
        both = pa.concat_tables([part, _texts(can, cols)])
        anchor = np.concatenate([r, can.column("__anchor").to_numpy()])
        is_c = np.concatenate([np.zeros(len(r), np.int64), np.ones(can.num_rows, np.int64)])
        c_no = np.concatenate([np.zeros(len(r), np.int64), can.column("__c").to_numpy()])
        return both.take(pa.array(np.lexsort((c_no, is_c, anchor))))

    def _keep_canaries(self, part: pa.Table, r: np.ndarray, can: pa.Table) -> None:
        """The canaries' cells exactly as written (the lineage stores them whole)."""
        anchor = can.column("__anchor").to_numpy()
        # Output position of each canary: real rows up to its anchor + canaries before it here.
        pos = np.searchsorted(r, anchor, side="right") + np.arange(len(anchor))
        rows = part.take(pa.array(pos)).to_pylist()
        for c_no, row in zip(can.column("__c").to_pylist(), rows):
            self.canaries_written[int(c_no)] = list(row.values())
