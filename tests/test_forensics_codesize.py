"""Sizing the q-ary mark code against merged copies."""

from __future__ import annotations

import math

from forensics import stats
from forensics.codesize import cells_needed, code_parameters, tardos_length


def test_cells_needed_is_the_smallest_length_meeting_epsilon():
    for q, c in [(100, 1), (100, 3), (100, 5), (10, 3)]:
        n = cells_needed(q, c, 100, 1e-6)
        bound = lambda m: math.log(100) + stats.log_binom_sf(math.ceil(m / c), m, 1 / q)  # noqa: E731
        assert bound(n) <= math.log(1e-6)
        if n < 200:
            assert bound(n - 1) > math.log(1e-6)


def test_more_colluders_need_more_cells_and_tiny_alphabets_cannot_resist():
    sizes = [cells_needed(100, c, 100, 1e-6) for c in range(1, 6)]
    assert sizes == sorted(sizes)
    assert cells_needed(4, 5, 100, 1e-6) is None  # a 1/5 share is below the 1/4 chance rate


def test_large_alphabet_beats_binary_tardos():
    assert cells_needed(100, 5, 100, 1e-6) * 10 < tardos_length(5, 100, 1e-6)
    assert tardos_length(5, 100, 1e-6) == 2273


def test_code_parameters_report_rows_needed():
    p = code_parameters([("balance/fine", 100, 0.25), ("balance/coarse", 10, 0.25)], 5, 20, 1e-6)
    assert p["rows_needed"] == math.ceil(cells_needed(100, 5, 20, 1e-6) / 0.25)
    assert p["colluders"] == 5 and p["epsilon"] == 1e-6
