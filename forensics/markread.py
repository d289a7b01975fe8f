"""Planning and reading lattice-v1 marks in NumPy, many exports at once.

The arithmetic of canary.marks (the scalar reference) and of
forensics.markplan's SQL (plan_sql, read_sql, eligible_sql for reading) over
arrays: one row per (export, leak cell) with the leak value in units and the
row's keyed material (its 32 bytes, as fastprf.hmac_bytes gives them, or
from_hex of the SQL's 64 hex characters) under that export's key. A test
checks all three agree on random values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from canary.marks import SLOTS_PER_MATERIAL, selection_threshold

from .duck import value_buffers
from .markplan import MarkColumn


def from_hex(material) -> np.ndarray:
    """An Arrow column of 64-hex strings (markplan.material_sql's output) as
    the (n, 32) bytes they spell: the form every function here reads."""
    if isinstance(material, pa.ChunkedArray):
        material = material.combine_chunks() if material.num_chunks != 1 else material.chunk(0)
    n = len(material)
    if material.null_count:
        raise ValueError("material may not be null")
    offsets, data = value_buffers(material)
    if n and not (np.diff(offsets) == 64).all():
        raise ValueError("material must be 64 hex characters")
    start = int(offsets[0]) if n else 0
    try:
        raw = bytes.fromhex(data[start:start + 64 * n].tobytes().decode("ascii"))
    except ValueError:  # also UnicodeDecodeError
        raise ValueError("material must be 64 hex characters") from None
    return np.frombuffer(raw, np.uint8).reshape(n, 32)


def slot_word(material: np.ndarray, slot: int) -> np.ndarray:
    """A slot's 8 bytes as one big-endian 64-bit word per row: selector
    (bytes 0-1), dither (2-5), flags (6-7)."""
    base = 8 * (slot % SLOTS_PER_MATERIAL)
    return np.ascontiguousarray(material[:, base:base + 8]).view(">u8").ravel().astype(np.uint64)


def plan(material: np.ndarray, col: MarkColumn, word=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(selected, dither, bit) of ``col``'s cell in each row: markplan.plan_sql.
    ``word``: slot_word(material, col.slot), when columns share a slot."""
    w = slot_word(material, col.slot) if word is None else word
    sel = (w >> np.uint64(48)).astype(np.int64)
    selected = (sel >= selection_threshold(col.sel_lo)) & (sel < selection_threshold(col.sel_hi))
    dither = (((w >> np.uint64(16)) & np.uint64(0xFFFFFFFF)) % np.uint64(col.q)).astype(np.int64)
    bit = (w & np.uint64(1)).astype(np.int64)
    return selected, dither, bit


def cell_plans(material: np.ndarray, col: MarkColumn) -> dict[str, pa.Array]:
    """The export's side: plan_sql's (selected, dither, bit, up) for every row
    as Arrow columns, for embedding (``up`` breaks ties away from the value)."""
    w = slot_word(material, col.slot)
    selected, dither, bit = plan(material, col, w)
    up = (w >> np.uint64(1)) & np.uint64(1)
    # Narrow types: the export keeps these for every row until it marks.
    return {"selected": pa.array(selected), "dither": pa.array(dither.astype(np.int32)),
            "bit": pa.array(bit.astype(np.int8)), "up": pa.array(up.astype(np.int8))}


def eligible(units: np.ndarray, col: MarkColumn) -> np.ndarray:
    """markplan.eligible_sql(embedding=False) on non-null units."""
    if col.kind != "amount":
        return np.ones(len(units), bool) if col.max_units is None else units <= col.max_units + col.q
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
