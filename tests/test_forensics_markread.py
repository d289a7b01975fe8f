"""forensics.markread (NumPy) reads marks exactly as markplan's SQL and the
canary.marks reference do."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from canary import marks
from forensics import markplan, markread

COLUMNS = [
    markplan.MarkColumn("amount", "amount", 0, 100, decimals=2, min_units=2000, sel_lo=0.0, sel_hi=0.25),
    markplan.MarkColumn("amount", "amount", 0, 10, decimals=2, min_units=100000, channel="coarse",
                        sel_lo=0.25, sel_hi=0.5),
    markplan.MarkColumn("opened", "date", 1, 4, sel_lo=0.0, sel_hi=0.5),
    markplan.MarkColumn("other", "amount", 3, 10, decimals=0, min_units=0, sel_lo=0.5, sel_hi=1.0),
]


def _cases(seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    hexes = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(n)]
    hexes[:3] = ["0" * 64, "f" * 64, "8000" * 16]  # the selector's edges
    units = rng.integers(-3_000_000, 3_000_000, n)
    units[: n // 4] = rng.integers(-50, 50, n // 4)  # small values, negative ones, zero
    group = rng.integers(0, 7, n)
    return hexes, units, group


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: f"{c.kind}-{c.channel}-slot{c.slot}")
def test_counts_equal_markplan_sql(col):
    hexes, units, group = _cases(1)
    con = duckdb.connect()
    con.register("cells", pa.table({"g": group, "u": units, "mat": hexes}))
    plan = markplan.plan_sql("mat", col)
    want = con.execute(f"""
        SELECT g, count(*), count(*) FILTER (WHERE b = bit), count(*) FILTER (WHERE b = 1 - bit) FROM (
            SELECT g, {markplan.read_sql('u', 'dither', col)} AS b, bit FROM (
                SELECT g, u, {plan['dither']} AS dither, {plan['bit']} AS bit, {plan['selected']} AS selected
                FROM cells)
            WHERE selected AND {markplan.eligible_sql('u', col, embedding=False)})
        GROUP BY g ORDER BY g""").fetchall()
    selected, dither, bit = markread.plan(markread.from_hex(pa.array(hexes)), col)
    n, agree, disagree = markread.counts(group[selected], 7, units[selected], dither[selected], bit[selected], col)
    got = [(g, int(n[g]), int(agree[g]), int(disagree[g])) for g in range(7) if n[g]]
    assert got == [tuple(r) for r in want]
    assert sum(r[1] for r in want) > 100  # the case is not vacuous


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: f"{c.kind}-{c.channel}-slot{c.slot}")
def test_plan_and_read_equal_the_scalar_reference(col):
    hexes, units, _ = _cases(2, 1000)
    selected, dither, bit = markread.plan(markread.from_hex(pa.array(hexes)), col)
    got = markread.read(units, dither, col)
    for i, h in enumerate(hexes):
        chunk = h[16 * col.slot: 16 * col.slot + 16]
        lo, hi = marks.selection_threshold(col.sel_lo), marks.selection_threshold(col.sel_hi)
        ref = marks.plan_from_material(h, col.slot, col.q, 1.0)
        assert selected[i] == (lo <= int(chunk[0:4], 16) < hi)
        assert (dither[i], bit[i]) == (ref.dither, ref.bit)
        if col.channel == "coarse":
            b = marks.read_coarse(int(units[i]), ref.dither, col.q, col.per_unit)
        else:
            b = marks.read(int(units[i]), ref.dither, col.q)
        assert got[i] == (-1 if b is None else b)


def test_from_hex_takes_sliced_and_chunked_columns_and_refuses_others():
    hexes = [bytes([i] * 32).hex() for i in range(10)]
    whole = markread.from_hex(pa.array(hexes))
    assert bytes(whole[3]).hex() == hexes[3]
    assert (markread.from_hex(pa.array(hexes).slice(4)) == whole[4:]).all()
    assert (markread.from_hex(pa.chunked_array([hexes[:5], hexes[5:]])) == whole).all()
    assert (markread.from_hex(pa.array(hexes, pa.large_string())) == whole).all()
    assert (markread.from_hex(pa.array([h.upper() for h in hexes])) == whole).all()
    assert markread.from_hex(pa.array([], pa.string())).shape == (0, 32)
    for bad in (["abc"], [hexes[0], None], ["g" * 64], ["é" * 32]):
        with pytest.raises(ValueError):
            markread.from_hex(pa.array(bad))


def test_material_for_taken_keys_is_the_material_of_those_keys():
    """markplan.material_bytes(take=...) (attribution: each distinct key's
    message spelled once) keys exactly what the taken column would give, and
    both are the bytes of markplan.material_sql's hex."""
    from canary.prf import Key
    from forensics import fastprf

    if not fastprf.available():
        pytest.skip("the native PRF core is not built")
    keys = [Key(bytes([i]) * 32) for i in (1, 2, 3)]
    row_keys = pa.array([0, 1, 2 ** 64 - 1, 123456789, 42], pa.uint64())
    take = pa.array([4, 0, 0, 2, 3, 1, 2])
    key_index = np.array([0, 1, 2, 0, 1, 2, 2], np.int32)
    got = markplan.material_bytes(fastprf.Keys(keys), row_keys, [0, 2], key_index=key_index, take=take)
    want = markplan.material_bytes(fastprf.Keys(keys), row_keys.take(take), [0, 2], key_index=key_index)
    assert got.keys() == {0, 2} and got[0].shape == (7, 32)
    assert (got[0] == want[0]).all() and (got[2] == want[2]).all()
    from forensics import sqlprf

    con = duckdb.connect()
    for i, (k, kidx) in enumerate(zip(row_keys.take(take).to_pylist(), key_index.tolist())):
        sqlprf.set_key(con, "mk", keys[kidx])
        sql = markplan.material_sql("?::UBIGINT", 2, var="mk")
        assert con.execute(f"SELECT {sql}", [k]).fetchone()[0] == bytes(got[2][i]).hex()


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: f"{c.kind}-{c.channel}-slot{c.slot}")
def test_counts_by_key_is_counts_when_each_key_has_one_cell(col):
    hexes, units, group = _cases(3)
    selected, dither, bit = markread.plan(markread.from_hex(pa.array(hexes)), col)
    s = np.flatnonzero(selected)
    want = markread.counts(group[s], 7, units[s], dither[s], bit[s], col)
    readings, agree, disagree, keys = markread.counts_by_key(s, group[s], 7, units[s], dither[s], bit[s], col)
    for a, b in zip(want, (readings, agree, disagree)):
        assert a.tolist() == b.tolist()
    assert keys.tolist() == readings.tolist()


def test_a_keys_cells_agree_together_and_count_once():
    """A customer's cells on one of the export's points (one class) are one
    agreeing key, not several; cells in r classes are r readings."""
    col = COLUMNS[0]  # fine amounts, q = 100
    key = np.array([0, 0, 0, 1, 1, 2])
    dither, bit = np.full(6, 7), np.zeros(6, np.int64)
    units = np.array([10007, 20007, 30007,  # key 0: three cells on the point 7 (mod 100)
                      10007, 20031,  # key 1: one on it, one off it: two classes
                      20050])  # key 2: off the point
    readings, agree, disagree, keys = markread.counts_by_key(key, np.zeros(6, np.int64), 1, units, dither, bit, col)
    assert (readings[0], agree[0], keys[0]) == (4, 2, 3)


def _poisson_binomial_sf(p: np.ndarray) -> np.ndarray:
    """P(S >= k) for k = 0..n, S a sum of independent Bernoulli(p_i): exact."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for x in p:
        pmf[1:] = pmf[1:] * (1 - x) + pmf[:-1] * x
        pmf[0] *= 1 - x
    return np.cumsum(pmf[::-1])[::-1]


@pytest.mark.parametrize("q", [4, 10, 100])
@pytest.mark.parametrize("seed", range(6))
def test_the_tail_bounds_keys_with_several_classes(q, seed):
    """Keys of r_i classes agree by chance with r_i/q each; tail_log_p (a
    binomial over sum(r) trials at 1/q, no evidence below the mean + 1) is
    never below the exact Poisson-binomial tail."""
    rng = np.random.default_rng(seed)
    r = rng.integers(1, min(q, 6), rng.integers(5, 80))
    exact = _poisson_binomial_sf(r / q)
    n = len(r)
    k = np.arange(n + 1)
    bound = np.exp(markread.tail_log_p(k, np.full(n + 1, r.sum()), np.full(n + 1, n), q))
    assert np.all(bound >= exact - 1e-12), np.max(exact - bound)


def test_an_innocent_export_agrees_with_a_key_at_chance_r_over_q():
    """Simulated: a key of r distinct classes, read under random dithers
    (another export's plan), agrees r/q of the time."""
    col = COLUMNS[2]  # dates, q = 4
    rng = np.random.default_rng(9)
    trials = 20000
    units = np.repeat(np.array([[100, 101, 101]]), trials, axis=0).ravel()  # two classes, three cells
    key = np.repeat(np.arange(trials), 3)
    dither = np.repeat(rng.integers(0, col.q, trials), 3)
    bit = np.repeat(rng.integers(0, 2, trials), 3)
    readings, agree, _, keys = markread.counts_by_key(key, np.zeros(len(key), np.int64), 1, units, dither, bit, col)
    assert readings[0] == 2 * trials and keys[0] == trials
    assert abs(agree[0] / trials - 2 / col.q) < 0.015
