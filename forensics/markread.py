"""Planning and reading lattice-v1 marks in NumPy, many exports at once.

The arithmetic of canary.marks (the scalar reference) and of
forensics.markplan's SQL (plan_sql, read_sql, eligible_sql for reading) over
arrays: one row per (export, leak cell) with the leak value in units and the
row's keyed material (64 hex characters) under that export's key. A test
checks all three agree on random values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from canary.marks import SLOTS_PER_MATERIAL, selection_threshold

from .duck import value_buffers
from .markplan import MarkColumn


def hex_matrix(material) -> np.ndarray:
    """An Arrow column of 64-hex strings as an (n, 64) array of their bytes."""
    if isinstance(material, pa.ChunkedArray):
        material = material.combine_chunks() if material.num_chunks != 1 else material.chunk(0)
    n = len(material)
    if material.null_count:
        raise ValueError("material may not be null")
    offsets, data = value_buffers(material)
    if n and not (np.diff(offsets) == 64).all():
        raise ValueError("material must be 64 hex characters")
    start = int(offsets[0]) if n else 0
    return data[start:start + 64 * n].reshape(n, 64)


_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_LOW_BITS = np.uint64(0x0101010101010101)
_EVEN_BYTES = np.uint64(0x00FF00FF00FF00FF)


def slot_words(hexes: np.ndarray, slot: int) -> tuple[np.ndarray, np.ndarray]:
    """A slot's 16 hex characters decoded eight at a time inside 64-bit words
    (SWAR): each word's bytes 0, 2, 4, 6 hold the slot's bytes in order."""
    base = 2 * (slot % SLOTS_PER_MATERIAL)
    words = np.ascontiguousarray(hexes).view("<u8")
    out = []
    for w in (words[:, base].copy(), words[:, base + 1].copy()):  # one strided read each
        nib = (w & _LOW_NIBBLES) + np.uint64(9) * ((w >> np.uint64(6)) & _LOW_BITS)  # '0'-'9', 'a'-'f', 'A'-'F'
        out.append(((nib << np.uint64(4)) | (nib >> np.uint64(8))) & _EVEN_BYTES)
    return out[0], out[1]


def _byte(word: np.ndarray, i: int) -> np.ndarray:
    return (word >> np.uint64(16 * i)) & np.uint64(0xFF)


def plan(hexes: np.ndarray, col: MarkColumn, words=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(selected, dither, bit) of ``col``'s cell in each row: markplan.plan_sql.
    A slot's 8 bytes: selector (2, big-endian), dither (4), flags (2).
    ``words``: slot_words(hexes, col.slot), when columns share a slot."""
    lo, hi = slot_words(hexes, col.slot) if words is None else words
    sel = ((_byte(lo, 0) << np.uint64(8)) | _byte(lo, 1)).astype(np.int64)
    selected = (sel >= selection_threshold(col.sel_lo)) & (sel < selection_threshold(col.sel_hi))
    word = (_byte(lo, 2) << np.uint64(24)) | (_byte(lo, 3) << np.uint64(16)) | (_byte(hi, 0) << np.uint64(8)) \
        | _byte(hi, 1)
    dither = (word % np.uint64(col.q)).astype(np.int64)
    bit = (_byte(hi, 3) & np.uint64(1)).astype(np.int64)
    return selected, dither, bit


def cell_plans(hexes: np.ndarray, col: MarkColumn) -> dict[str, pa.Array]:
    """The export's side: plan_sql's (selected, dither, bit, up) for every row
    as Arrow columns, for embedding (``up`` breaks ties away from the value)."""
    lo, hi = slot_words(hexes, col.slot)
    selected, dither, bit = plan(hexes, col, (lo, hi))
    up = ((_byte(hi, 3) >> np.uint64(1)) & np.uint64(1)).astype(np.int64)
    return {"selected": pa.array(selected), "dither": pa.array(dither), "bit": pa.array(bit), "up": pa.array(up)}


def eligible(units: np.ndarray, col: MarkColumn) -> np.ndarray:
    """markplan.eligible_sql(embedding=False) on non-null units."""
    if col.kind != "amount":
        return np.ones(len(units), bool)
    return np.abs(units) >= col.min_units


def read(units: np.ndarray, dither: np.ndarray, col: MarkColumn) -> np.ndarray:
    """The bit each (non-null) value carries under its dither: 0, 1, or -1 when
    it sits on neither of the export's points (markplan.read_sql)."""
    if col.channel == "coarse":
        units = (np.abs(units) + col.per_unit // 2) // col.per_unit
    r = np.mod(units - dither, col.q)
    return np.where(r == 0, 0, np.where(r == col.q // 2, 1, -1))


def counts(group: np.ndarray, n_groups: int, units: np.ndarray, dither: np.ndarray, bit: np.ndarray,
           col: MarkColumn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (export): readable cells, agreeing and disagreeing ones, of
    aligned arrays over the cells the export selected (``units`` non-null);
    a cell is readable if its value is eligible."""
    keep = eligible(units, col)
    g = group[keep]
    b = read(units[keep], dither[keep], col)
    bit = bit[keep]
    outcome = np.where(b == bit, 1, np.where(b == 1 - bit, 2, 0))  # 0: off both points
    tally = np.bincount(g * 3 + outcome, minlength=3 * n_groups).reshape(n_groups, 3)
    return tally.sum(axis=1), tally[:, 1], tally[:, 2]
