"""Two-stage mark reading: the rule, and what it gives up, by simulation.

Attribution (forensics.attribute) reads each export's marks on the first
FIRST_STAGE rows of its sample and reads the whole sample (5,000 rows) only
for exports that first read leaves at combined p <= READ_ON_P. An export is
accused only on its full read, so the stop cannot add a false accusation (a
futility stop): the bound on accusing an innocent recipient is the full
read's. What it can cost is power: a guilty export whose first rows happen to
look innocent is never read in full. This module simulates that cost on the
statistics attribution computes (binomial tails per mark channel, Fisher's
combination, Bonferroni over the exports tested), for copies whose readable
marked cells still carry the export's mark with probability ``signal``
(1 for a faithful copy, about 1/c for a merge of c copies, less after noise).

Channels default to what a 5,000-row read of the synthetic bank list gives:
cents (q = 100) and whole yuan (q = 10) each readable on about a quarter of
the rows, dates (q = 4) on about half. ``extra_tests`` adds tests with p = 1
(an export's canary and pooled-canary tests when the leak holds none of
them), which makes the first stage's combined p larger, so the estimate of
the loss is conservative.

bench/two_stage_power.py prints the table. With the values below, on 4,000
simulated exports per signal: innocent exports are read in full 2.4% of the
time (so mark reading keys about 2.1 of the 5 million (export, row) pairs a
1,000-export store asks for), and the two-stage read misses at most 0.23% of
the full read's accusations (at signal 0.02, where the full read accuses
22%); from signal 0.05 up both accuse every guilty export. Reading 1,000
first rows at p <= 0.1 instead missed 12% at signal 0.03: the first stage
must be large enough to see a weak mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import stats

FIRST_STAGE = 2000  # rows of every export's sample read first
READ_ON_P = 0.2  # read the whole sample where the first read leaves p at or below this

#: (q, readable cells per row) of each mark channel
CHANNELS = ((100, 0.24), (10, 0.24), (4, 0.5))


@dataclass
class PowerRow:
    signal: float
    full: float  # share of guilty exports the full read accuses
    two_stage: float  # share the two-stage read accuses
    read_on: float  # share read in full

    @property
    def lost(self) -> float:
        """Share of the full read's accusations the two-stage read misses."""
        return 0.0 if self.full == 0 else (self.full - self.two_stage) / self.full


def _combined(agree: np.ndarray, readable: np.ndarray, channels, extra_tests: int) -> np.ndarray:
    """Fisher-combined log p per export over its channels (and p = 1 extras)."""
    logs = np.stack([stats.log_binom_sf_many(agree[:, c], readable[:, c], 1.0 / q)
                     for c, (q, _) in enumerate(channels)], axis=1)
    out = np.empty(len(logs))
    for i, row in enumerate(logs.tolist()):
        tests = [lp for lp, r in zip(row, readable[i].tolist()) if r > 0] + [0.0] * extra_tests
        out[i] = stats.fisher(tests) if tests else 0.0
    return out


def simulate(signal: float, *, exports: int = 2000, first: int = FIRST_STAGE, full: int = 5000,
             read_on_p: float = READ_ON_P,
             alpha: float = 1e-6, tested: int = 1000, channels=CHANNELS, extra_tests: int = 2,
             seed: int = 0) -> PowerRow:
    """Accusation rates of ``exports`` simulated guilty exports (``signal`` 0:
    innocent ones), by the full read and by the two-stage read, with
    ``tested`` exports in the store (the Bonferroni factor)."""
    rng = np.random.default_rng(seed)
    k = len(channels)
    rate = np.array([r for _, r in channels])
    agree_p = np.array([signal + (1.0 - signal) / q for q, _ in channels])
    r1 = rng.binomial(first, rate, size=(exports, k))
    r2 = rng.binomial(full - first, rate, size=(exports, k))
    a1 = rng.binomial(r1, agree_p)
    a2 = rng.binomial(r2, agree_p)
    stage1 = _combined(a1, r1, channels, extra_tests)
    whole = _combined(a1 + a2, r1 + r2, channels, extra_tests)
    accused_full = whole + math.log(tested) <= math.log(alpha)
    read_on = stage1 <= math.log(max(read_on_p, alpha))
    # Stopped exports keep their first-stage p, which is above read_on_p >= alpha: never accused.
    accused_two = accused_full & read_on
    return PowerRow(signal, float(accused_full.mean()), float(accused_two.mean()), float(read_on.mean()))
