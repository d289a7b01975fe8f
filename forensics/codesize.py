"""How long a leak must be to name one of c merged copies: the code's size.

tracer's marks form a q-ary code: for every cell an export marks, its symbol
is one of q keyed lattice points, independent across exports. When c
recipients merge copies cell by cell (the marking assumption: each output
cell is one of their values), some colluder's symbol fills at least a 1/c
share of the readable cells, while an innocent export's symbol matches a cell
with probability 1/q. So the number of readable cells needed is the smallest
n with N * P(Binomial(n, 1/q) >= ceil(n/c)) <= epsilon (N recipients tested).
Compare the binary symmetric Tardos code, (pi^2/2) c^2 ln(N/epsilon)
positions: 2,300 for N=100, c=5, epsilon=1e-6; a large alphabet needs far
fewer cells, which is why small merged leaks are still attributable.
"""

from __future__ import annotations

import math

from . import stats


def cells_needed(q: int, colluders: int, recipients: int, epsilon: float) -> int | None:
    """Readable marked cells that name one of ``colluders`` merged copies at
    ``epsilon`` (None when one colluder's share, 1/c, is not above 1/q)."""
    if colluders < 1 or q < 2:
        raise ValueError("need at least one colluder and q >= 2")
    if 1.0 / colluders <= 1.0 / q:
        return None
    target = math.log(epsilon) - math.log(max(1, recipients))
    n = 1
    while n < 10_000_000:
        if stats.log_binom_sf(math.ceil(n / colluders), n, 1.0 / q) <= target:
            return n
        n = n + 1 if n < 200 else int(n * 1.05)
    return None


def tardos_length(colluders: int, recipients: int, epsilon: float) -> int:
    """Symmetric Tardos code length (Laarhoven & de Weger), for comparison."""
    return math.ceil((math.pi ** 2 / 2) * colluders ** 2 * math.log(recipients / epsilon))


def code_parameters(channels: list[tuple[str, int, float]], colluders: int, recipients: int,
                    epsilon: float) -> dict:
    """What the export records: per channel (name, q, share of rows marked),
    the cells and rows a merged leak needs to name one colluder."""
    per = []
    best_rows = None
    for name, q, share in channels:
        n = cells_needed(q, colluders, recipients, epsilon)
        rows = math.ceil(n / share) if n is not None and share > 0 else None
        per.append({"channel": name, "q": q, "cells_needed": n, "rows_needed": rows})
        if rows is not None and (best_rows is None or rows < best_rows):
            best_rows = rows
    return {"kind": "q-ary keyed lattice (one symbol per export per marked cell)", "colluders": colluders,
            "epsilon": epsilon, "recipients": recipients, "channels": per, "rows_needed": best_rows,
            "tardos_positions_for_comparison": tardos_length(colluders, recipients, epsilon)}
