"""Tail probabilities, in log space so that 1e-300 stays a number.

Everything returns natural-log probabilities; callers convert for display.
Exact sums (no normal approximations): the tails that decide an accusation
are far out, exactly where approximations are worst.
"""

from __future__ import annotations

import math

import numpy as np

LOG_ZERO = -math.inf


def _logsumexp(a: float, b: float) -> float:
    if a == LOG_ZERO:
        return b
    if b == LOG_ZERO:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def _log_binom_pmf(i: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if i == 0 else LOG_ZERO
    if p >= 1.0:
        return 0.0 if i == n else LOG_ZERO
    return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
            + i * math.log(p) + (n - i) * math.log1p(-p))


def log_binom_sf(k: int, n: int, p: float) -> float:
    """log P(X >= k) for X ~ Binomial(n, p).

    The loops are _log_binom_pmf and _logsumexp written inline, with the
    constant terms computed once: the same operations on the same doubles, so
    the same bits (a test checks), about twice as fast (attribution calls this
    a few thousand times, once per mark column of every export tested)."""
    if k <= 0:
        return 0.0
    if k > n:
        return LOG_ZERO
    if p <= 0.0 or p >= 1.0:
        return _log_binom_sf_plain(k, n, p)
    lg_n, lp, lq = math.lgamma(n + 1), math.log(p), math.log1p(-p)
    lgamma, log, exp = math.lgamma, math.log, math.exp
    mean = n * p
    if k > mean:
        # Terms fall from k upward: sum until they stop mattering.
        total = LOG_ZERO
        for i in range(k, n + 1):
            t = lg_n - lgamma(i + 1) - lgamma(n - i + 1) + i * lp + (n - i) * lq
            if total == LOG_ZERO:  # t is finite for 0 < p < 1
                total = t
            elif t > total:  # _logsumexp with the larger term's exp(0.0) == 1.0 written out
                total = t + log(exp(total - t) + 1.0)
            else:
                total = total + log(1.0 + exp(t - total))
            if t < total - 40:
                break
        return min(0.0, total)
    # Near or below the mean the upper tail is large: 1 - P(X <= k-1).
    lower = LOG_ZERO
    for i in range(k - 1, -1, -1):
        t = lg_n - lgamma(i + 1) - lgamma(n - i + 1) + i * lp + (n - i) * lq
        if lower == LOG_ZERO:
            lower = t
        elif t > lower:
            lower = t + log(exp(lower - t) + 1.0)
        else:
            lower = lower + log(1.0 + exp(t - lower))
        if t < lower - 40:
            break
    lower_p = math.exp(lower)
    return math.log(max(1.0 - lower_p, 1e-300)) if lower_p < 1.0 else math.log(1e-300)


def _log_binom_sf_plain(k: int, n: int, p: float) -> float:
    """log_binom_sf term by term through _log_binom_pmf and _logsumexp (any p)."""
    if k <= 0:
        return 0.0
    if k > n:
        return LOG_ZERO
    if k > n * p:
        total = LOG_ZERO
        for i in range(k, n + 1):
            t = _log_binom_pmf(i, n, p)
            total = _logsumexp(total, t)
            if t < total - 40:
                break
        return min(0.0, total)
    lower = LOG_ZERO
    for i in range(k - 1, -1, -1):
        t = _log_binom_pmf(i, n, p)
        lower = _logsumexp(lower, t)
        if t < lower - 40:
            break
    lower_p = math.exp(lower)
    return math.log(max(1.0 - lower_p, 1e-300)) if lower_p < 1.0 else math.log(1e-300)


_log_fact = np.zeros(1)  # log(i!) for i < len(_log_fact): math.lgamma's values, grown on demand


def _log_factorials(n: int) -> np.ndarray:
    global _log_fact
    table = _log_fact
    if len(table) <= n:
        table = np.array([math.lgamma(i + 1) for i in range(max(n + 1, 2 * len(table)))])
        _log_fact = table
    return table


def log_binom_sf_many(k, n, p: float) -> np.ndarray:
    """log_binom_sf for arrays of (k, n) with one p, as NumPy arrays.

    The same terms, summed from the largest outward (the terms fall
    monotonically from k upward when k > n p, and from k - 1 downward
    otherwise) until they are e^-45 below the first, in one exp-sum per pair
    rather than one logsumexp per term: equal to log_binom_sf within 1e-12
    (a test checks), and what attribution uses for its thousands of mark
    tallies. Repeated pairs are computed once."""
    k, n = np.asarray(k, np.int64).ravel(), np.asarray(n, np.int64).ravel()
    if len(k) != len(n):
        raise ValueError("k and n must have the same length")
    if not len(k):
        return np.zeros(0)
    if not 0.0 < p < 1.0:
        return np.array([log_binom_sf(a, b, p) for a, b in zip(k.tolist(), n.tolist())])
    pairs, back = np.unique(np.stack([k, n]), axis=1, return_inverse=True)
    lf = _log_factorials(int(pairs[1].max()))
    lp, lq = math.log(p), math.log1p(-p)
    out = np.empty(pairs.shape[1])
    for j, (kk, nn) in enumerate(zip(pairs[0].tolist(), pairs[1].tolist())):
        if kk <= 0:
            out[j] = 0.0
            continue
        if kk > nn:
            out[j] = LOG_ZERO
            continue
        upper = kk > nn * p
        # i runs away from the mode: k, k+1, ..., n or k-1, k-2, ..., 0
        start, stop, step = (kk, nn + 1, 1) if upper else (kk - 1, -1, -1)
        total, first, size = 0.0, None, 256
        while True:
            end = start + step * size
            end = min(end, stop) if upper else max(end, stop)
            i = np.arange(start, end, step)
            t = lf[nn] - lf[i] - lf[nn - i] + i * lp + (nn - i) * lq
            if first is None:
                first = t[0]
            small = np.flatnonzero(t < first - 45)
            if len(small):
                t = t[:small[0]]
            total += float(np.exp(t - first).sum())
            if len(small) or end == stop:
                break
            start, size = end, 2 * size
        log_sum = first + math.log(total)
        if upper:
            out[j] = min(0.0, log_sum)
        else:
            lower_p = math.exp(log_sum)
            out[j] = math.log(max(1.0 - lower_p, 1e-300)) if lower_p < 1.0 else math.log(1e-300)
    return out[back.ravel()]


def log_poisson_sf(k: int, lam: float) -> float:
    """log P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 0.0
    if lam <= 0.0:
        return LOG_ZERO
    total = LOG_ZERO
    i = k
    while True:
        t = -lam + i * math.log(lam) - math.lgamma(i + 1)
        total = _logsumexp(total, t)
        if (i > lam and t < total - 40) or i > k + 100000:
            break
        i += 1
    return min(0.0, total)


def to_p(log_p: float) -> float:
    """A log probability as a float (0.0 only below ~1e-308)."""
    return math.exp(log_p) if log_p > -745 else 0.0


def log10(log_p: float) -> float:
    return log_p / math.log(10) if log_p != LOG_ZERO else -math.inf


def bonferroni(log_p: float, tests: int) -> float:
    """log of min(1, tests * p)."""
    if tests <= 1:
        return log_p
    return min(0.0, log_p + math.log(tests))


def fisher(log_ps: list[float]) -> float:
    """log p of Fisher's combination of independent p-values.

    -2 * sum(ln p_i) follows a chi-square with 2k degrees of freedom when the
    p_i are uniform; for super-uniform (conservative, e.g. discrete) p-values
    the tail below is an upper bound. Chi-square(2k) tail at x:
    exp(-x/2) * sum_{i<k} (x/2)^i / i!.
    """
    k = len(log_ps)
    if k == 0:
        return 0.0
    if k == 1:
        return log_ps[0]
    if any(lp == LOG_ZERO for lp in log_ps):
        return LOG_ZERO
    half = -sum(log_ps)  # x / 2
    if half <= 0:
        return 0.0
    log_half = math.log(half)
    terms = LOG_ZERO
    for i in range(k):
        terms = _logsumexp(terms, i * log_half - math.lgamma(i + 1))
    return min(0.0, -half + terms)
