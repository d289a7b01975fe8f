"""Reading lattice-v1 marks in NumPy, many exports at once.

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

from .markplan import MarkColumn

def hex_matrix(material) -> np.ndarray:
    """An Arrow column of 64-hex strings as an (n, 64) array of their bytes."""
    if isinstance(material, pa.ChunkedArray):
        material = material.combine_chunks() if material.num_chunks != 1 else material.chunk(0)
    n = len(material)
    if material.null_count:
        raise ValueError("material may not be null")
    wide = pa.types.is_large_string(material.type)
    offsets = np.frombuffer(material.buffers()[1], np.int64 if wide else np.int32)[material.offset:material.offset + n + 1]
    if n and not (np.diff(offsets) == 64).all():
        raise ValueError("material must be 64 hex characters")
    data = np.frombuffer(material.buffers()[2], np.uint8) if n else np.zeros(0, np.uint8)
    start = int(offsets[0]) if n else 0
    return data[start:start + 64 * n].reshape(n, 64)


def slot_bytes(hexes: np.ndarray, slot: int) -> np.ndarray:
    """The 8 bytes that slot ``slot`` of each row's material encodes (16 hex characters)."""
    base = 16 * (slot % SLOTS_PER_MATERIAL)
    c = hexes[:, base:base + 16]
    nib = (c & 15) + 9 * (c >> 6)  # '0'-'9' -> 0-9, 'a'-'f' and 'A'-'F' -> 10-15
    return (nib[:, 0::2] << 4) | nib[:, 1::2]


def plan(hexes: np.ndarray, col: MarkColumn, raw: np.ndarray | None = None):
    """(selected, dither, bit) of ``col``'s cell in each row: markplan.plan_sql.
    A slot's bytes: selector (2, big-endian), dither (4), flags (2); ``raw``
    may give them (slot_bytes) when several columns share the slot."""
    raw = slot_bytes(hexes, col.slot) if raw is None else raw
    sel = (raw[:, 0].astype(np.int32) << 8) | raw[:, 1]
    selected = (sel >= selection_threshold(col.sel_lo)) & (sel < selection_threshold(col.sel_hi))
    word = raw[:, 2].astype(np.int64)
    for j in (3, 4, 5):
        word = (word << 8) | raw[:, j]
    dither = word % col.q
    bit = (raw[:, 7] & 1).astype(np.int64)
    return selected, dither, bit


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


def counts(group: np.ndarray, n_groups: int, units: np.ndarray, selected: np.ndarray, dither: np.ndarray,
           bit: np.ndarray, col: MarkColumn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (export): readable cells (selected and eligible), agreeing and
    disagreeing ones. Arrays are aligned; ``units`` are the non-null values."""
    keep = selected & eligible(units, col)
    g, b, bit = group[keep], read(units[keep], dither[keep], col), bit[keep]
    n = np.bincount(g, minlength=n_groups)
    agree = np.bincount(g[b == bit], minlength=n_groups)
    disagree = np.bincount(g[b == 1 - bit], minlength=n_groups)
    return n, agree, disagree
