"""Mark channels: how one cell carries one bit of an export's codeword.

Scheme "lattice-v1" (quantisation index modulation with a keyed dither).
A markable value is an integer number of units (cents, days). For each
(export, row, column) the PRF gives a dither ``u`` in [0, q). The two marked
variants of a cell are the values congruent to ``u`` (bit 0) or to
``u + q/2`` (bit 1) modulo ``q``; embedding moves the value to the nearest
such point, never leaving it unchanged, so the displacement is at most ``q``
units (the declared tolerance) and usually at most ``q/2``.

Reading is blind: it needs the leaked value and the key, never the original,
so a mark survives a change in the master data. A value that sits on neither
point reads as *off*: the copy did not come from this export (or the cell was
damaged). Under innocence the dither is independent of the leaked value, so a
cell lands on the export's target point with probability exactly 1/q: that
is the null rate the binomial test in forensics uses.

This module is the scalar reference; forensics.markplan evaluates the same
arithmetic in DuckDB, and a test checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEME = "lattice-v1"
SLOTS_PER_MATERIAL = 4  # one 32-byte PRF output plans four columns of a row
SELECT_SCALE = 1 << 16


@dataclass(frozen=True)
class CellPlan:
    selected: bool  # does this export mark this cell?
    dither: int  # lattice offset in [0, q)
    bit: int  # codeword bit carried by the cell
    up: bool  # direction used when the value already sits on the target point


def plan_from_material(material_hex: str, slot: int, q: int, fraction: float) -> CellPlan:
    """Decode one column's plan from a row's PRF output (64 hex characters).

    Slot ``s`` uses hex characters [16s, 16s+16): 4 for selection, 8 for the
    dither, 4 for flags (bit 0: codeword bit, bit 1: direction).
    """
    if not 0 <= slot < SLOTS_PER_MATERIAL:
        raise ValueError("slot out of range")
    chunk = material_hex[16 * slot : 16 * slot + 16]
    sel = int(chunk[0:4], 16)
    dither = int(chunk[4:12], 16) % q
    flags = int(chunk[12:16], 16)
    return CellPlan(
        selected=sel < selection_threshold(fraction),
        dither=dither,
        bit=flags & 1,
        up=bool(flags & 2),
    )


def selection_threshold(fraction: float) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("mark fraction must be within [0, 1]")
    return int(round(fraction * SELECT_SCALE))


def target_residue(dither: int, bit: int, q: int) -> int:
    return (dither + bit * (q // 2)) % q


def embed(value: int, plan: CellPlan, q: int) -> int:
    """The marked variant of ``value`` carrying ``plan.bit``: never ``value`` itself."""
    if q < 2 or q % 2:
        raise ValueError("the lattice period must be even and at least 2")
    r = (value - target_residue(plan.dither, plan.bit, q)) % q
    if r == 0:
        return value + q if plan.up else value - q
    down, up = value - r, value + (q - r)
    if r < q - r:
        return down
    if r > q - r:
        return up
    return up if plan.up else down


def read(value: int, dither: int, q: int) -> int | None:
    """The bit a value carries under one export's dither, or None if it sits
    on neither of that export's points."""
    r = (value - dither) % q
    if r == 0:
        return 0
    if r == q // 2:
        return 1
    return None


def embed_coarse(value: int, plan: CellPlan, q: int, per_unit: int) -> int:
    """The coarse channel: the whole-currency part carries the bit and the
    fraction is kept below one half, so rounding or truncating to whole units
    keeps the mark. ``value`` is in units (e.g. cents, ``per_unit`` = 100)."""
    sign = -1 if value < 0 else 1
    whole, frac = divmod(abs(value), per_unit)
    new_frac = frac if frac < per_unit // 2 else frac - per_unit // 2
    return sign * (embed(whole, plan, q) * per_unit + new_frac)


def read_coarse(value: int, dither: int, q: int, per_unit: int) -> int | None:
    """Read the coarse channel from a value that may have been rounded (half up)
    or truncated to whole units."""
    return read((abs(value) + per_unit // 2) // per_unit, dither, q)
