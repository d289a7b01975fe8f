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

from . import stats
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
    on = np.abs(units) >= col.min_units
    return on if col.round_units is None else on & (units % col.round_units != 0)


def residue(units: np.ndarray, col: MarkColumn) -> np.ndarray:
    """Each value's class modulo q, as read() sees it: values in one class
    read alike under any dither."""
    if col.channel == "coarse":
        units = (np.abs(units) + col.per_unit // 2) // col.per_unit
    return np.mod(units, col.q)


def read(units: np.ndarray, dither: np.ndarray, col: MarkColumn) -> np.ndarray:
    """The bit each (non-null) value carries under its dither: 0, 1, or -1 when
    it sits on neither of the export's points (markplan.read_sql)."""
    r = np.mod(residue(units, col) - dither, col.q)
    return np.where(r == 0, 0, np.where(r == col.q // 2, 1, -1))


def counts_by_key(key: np.ndarray, group: np.ndarray, n_groups: int, units: np.ndarray, dither: np.ndarray,
                  bit: np.ndarray, col: MarkColumn, counted: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """counts() where several cells may share one row key (``key``; their
    dither and bit are the key's): per group, (readings, agreeing keys,
    disagreeing keys, keys read).

    An export marks every row of one key with one plan, so those cells are
    one trial, not several: the key agrees if any of its cells sits on the
    export's point, which under innocence happens with chance r/q for r
    distinct classes (residue()) among its readable values, the classes being
    mutually exclusive. "Readings" sums r over the keys: a binomial over that
    many 1/q trials bounds the keys' agreements (tail_log_p). ``counted``:
    cells whose agreement may count (all by default); a key disagrees where
    one of its cells reads the other bit and none agrees."""
    keep = eligible(units, col)
    key, group, units, dither, bit = key[keep], group[keep], units[keep], dither[keep], bit[keep]
    got = read(units, dither, col)
    agree_cell = got == bit
    if counted is not None:
        agree_cell &= counted[keep]
    keys, at = np.unique(key, return_inverse=True)
    key_group = np.zeros(len(keys), np.int64)
    key_group[at] = group
    classes = np.unique(at.astype(np.int64) * col.q + residue(units, col))  # distinct (key, class)
    readings = np.bincount(key_group[classes // col.q], minlength=n_groups)
    agrees = np.bincount(at, weights=agree_cell, minlength=len(keys)) > 0
    disagrees = (np.bincount(at, weights=got == 1 - bit, minlength=len(keys)) > 0) & ~agrees
    return (readings, np.bincount(key_group, weights=agrees, minlength=n_groups).astype(np.int64),
            np.bincount(key_group, weights=disagrees, minlength=n_groups).astype(np.int64),
            np.bincount(key_group, minlength=n_groups))


def tail_log_p(agree, readings, keys, q: int) -> np.ndarray:
    """log P(at least ``agree`` of the keys agree by chance), per group: the
    binomial over ``readings`` trials at 1/q, exact where every key has one
    class (readings == keys). Where some have several, the keys are
    independent trials of chance r/q each, whose upper tail the binomial over
    sum(r) trials at 1/q (the same mean) bounds from one above the mean on
    (Hoeffding 1956; tests/test_forensics_markread.py checks it exactly);
    below that, 0: no evidence."""
    agree, readings, keys = (np.asarray(x, np.int64) for x in (agree, readings, keys))
    out = stats.log_binom_sf_many(agree, readings, 1.0 / q)
    several = (readings > keys) & (agree < readings / q + 1)
    return np.where(several, 0.0, out)


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
