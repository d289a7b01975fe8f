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
    otherwise) with one exp-sum per pair rather than one logsumexp per term,
    a window of terms for all pairs at once; a pair whose terms have not
    fallen e^-45 below the first within the window is summed on in chunks.
    Equal to log_binom_sf within 1e-12 (a test checks); what attribution uses
    for its thousands of mark tallies. Repeated pairs are computed once."""
    k, n = np.asarray(k, np.int64).ravel(), np.asarray(n, np.int64).ravel()
    if len(k) != len(n):
        raise ValueError("k and n must have the same length")
    if not len(k):
        return np.zeros(0)
    if not 0.0 < p < 1.0:
        return np.array([log_binom_sf(a, b, p) for a, b in zip(k.tolist(), n.tolist())])
    pairs, back = np.unique(np.stack([k, n]), axis=1, return_inverse=True)
    pk, pn = pairs
    out = np.where(pk <= 0, 0.0, LOG_ZERO)  # k <= 0: certain; k > n: impossible
    todo = np.flatnonzero((pk > 0) & (pk <= pn))
    if len(todo):
        lf = _log_factorials(int(pn.max()))
        lp, lq = math.log(p), math.log1p(-p)
        for block in np.array_split(todo, -(-len(todo) // 4096)):
            out[block] = _binom_tails(pk[block], pn[block], p, lf, lp, lq)
    return out[back.ravel()]


_TAIL_WINDOW = 512  # at most this many terms summed at once for every pair (the rest, if any, in chunks)


def _binom_tails(k: np.ndarray, n: np.ndarray, p: float, lf: np.ndarray, lp: float, lq: float) -> np.ndarray:
    upper = k > n * p
    step = np.where(upper, 1, -1)
    first_i = np.where(upper, k, k - 1)
    # Terms near the mean fall like a normal's: ~10 standard deviations reach e^-45.
    width = int(min(_TAIL_WINDOW, 12 * math.sqrt(float(n.max()) * p * (1 - p)) + 64))
    i = first_i[:, None] + step[:, None] * np.arange(width)[None, :]
    inside = (i >= 0) & (i <= n[:, None])
    ic = np.clip(i, 0, n[:, None])
    nn = n[:, None]
    t = lf[nn] - lf[ic] - lf[nn - ic] + ic * lp + (nn - ic) * lq
    t = np.where(inside, t, -np.inf)
    first = t[:, 0]
    total = np.exp(t - first[:, None]).sum(axis=1)
    last = t[:, -1]
    done = ~inside[:, -1] | (last < first - 45)
    log_sum = first + np.log(total)
    for j in np.flatnonzero(~done):  # terms still falling slowly: sum on from the window's end
        nj = int(n[j])
        start = int(first_i[j]) + int(step[j]) * width
        stop = nj + 1 if upper[j] else -1
        acc, size = float(total[j]), 1024
        while start != stop:
            end = min(start + size, stop) if upper[j] else max(start - size, stop)
            ii = np.arange(start, end, int(step[j]))
            tt = lf[nj] - lf[ii] - lf[nj - ii] + ii * lp + (nj - ii) * lq
            acc += float(np.exp(tt - first[j]).sum())
            if tt[-1] < first[j] - 45:
                break
            start, size = end, 2 * size
        log_sum[j] = first[j] + math.log(acc)
    lower_p = np.exp(np.where(upper, -np.inf, log_sum))
    with np.errstate(divide="ignore"):
        lower = np.where(lower_p < 1.0, np.log(np.maximum(1.0 - lower_p, 1e-300)), math.log(1e-300))
    return np.where(upper, np.minimum(0.0, log_sum), lower)


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
