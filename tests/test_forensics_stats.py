"""Tail probabilities against brute force."""

from __future__ import annotations

import math

import pytest

from forensics import stats


def brute_binom_sf(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize("n,p", [(10, 0.5), (50, 0.01), (200, 0.25), (37, 0.9)])
def test_binomial_tail_matches_brute_force(n, p):
    for k in range(0, n + 2):
        want = brute_binom_sf(k, n, p) if k <= n else 0.0
        got = stats.to_p(stats.log_binom_sf(k, n, p))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("p", [0.0, 1e-9, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_binomial_tail_is_bit_for_bit_the_term_by_term_sum(p):
    """The inlined loop (attribution's hot path) is the plain one, same bits."""
    for n in (0, 1, 7, 100, 1270, 2485, 5000):
        for k in sorted({0, 1, 2, n // 100, n // 10, n // 4, n // 4 + 1, n // 2, n - 1, n, n + 1}):
            assert stats.log_binom_sf(k, n, p) == stats._log_binom_sf_plain(k, n, p), (k, n, p)


@pytest.mark.parametrize("p", [0.0, 1e-9, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_binomial_tails_of_arrays_equal_the_scalar_tails(p):
    """log_binom_sf_many (attribution's mark tallies) is log_binom_sf within 1e-12."""
    ks, ns = [], []
    for n in (0, 1, 7, 100, 1270, 2485, 5000, 20000):
        for k in sorted({0, 1, 2, n // 100, n // 10, n // 4, n // 4 + 1, n // 2, n - 1, n, n + 1,
                         int(n * p), int(n * p) + 1, int(n * p) + 40}):
            ks.append(k)
            ns.append(n)
    got = stats.log_binom_sf_many(ks, ns, p)
    for k, n, g in zip(ks, ns, got.tolist()):
        want = stats.log_binom_sf(k, n, p)
        if want == stats.LOG_ZERO:
            assert g == want, (k, n, p)
        else:
            assert g == pytest.approx(want, rel=1e-12, abs=1e-13), (k, n, p)


def test_binomial_tails_of_arrays_match_brute_force_and_keep_their_order():
    ks = [5, 0, 11, 3, 5, 7]
    got = stats.log_binom_sf_many(ks, [10] * len(ks), 0.3)
    want = [brute_binom_sf(k, 10, 0.3) if k <= 10 else 0.0 for k in ks]
    assert [stats.to_p(g) for g in got] == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert stats.log_binom_sf_many([], [], 0.5).shape == (0,)
    with pytest.raises(ValueError):
        stats.log_binom_sf_many([1, 2], [3], 0.5)


def test_binomial_tail_stays_a_number_far_out():
    lp = stats.log_binom_sf(5000, 5000, 0.01)
    assert stats.log10(lp) == pytest.approx(-10000, rel=1e-6)
    assert stats.to_p(lp) == 0.0  # below float range, but the log is exact


def test_poisson_tail():
    for lam in (1e-6, 0.3, 4.0):
        for k in range(0, 6):
            want = 1 - sum(math.exp(-lam) * lam**i / math.factorial(i) for i in range(k))
            got = stats.to_p(stats.log_poisson_sf(k, lam))
            assert got == pytest.approx(want, rel=1e-6, abs=1e-15)


def test_bonferroni_caps_at_one():
    assert stats.bonferroni(math.log(0.5), 10) == 0.0
    assert stats.to_p(stats.bonferroni(math.log(1e-9), 10)) == pytest.approx(1e-8)


def test_fisher_matches_the_chi_square_tail():
    for p1, p2 in [(0.5, 0.5), (1e-3, 0.2), (1e-9, 1.0)]:
        x = -2 * (math.log(p1) + math.log(p2))
        want = math.exp(-x / 2) * (1 + x / 2)  # chi-square, 4 degrees of freedom
        got = stats.to_p(stats.fisher([math.log(p1), math.log(p2)]))
        assert got == pytest.approx(want, rel=1e-9)
    assert stats.fisher([math.log(0.3)]) == pytest.approx(math.log(0.3))


def test_fisher_is_calibrated_on_uniform_p_values():
    import random

    rng = random.Random(1)
    hits = sum(stats.to_p(stats.fisher([math.log(rng.random()) for _ in range(3)])) <= 0.05 for _ in range(20000))
    assert abs(hits / 20000 - 0.05) < 0.006


