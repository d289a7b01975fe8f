"""The lattice-v1 mark channel: embed -> read, utility bounds, and the SQL twin."""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.marks import CellPlan, embed, plan_from_material, read
from canary.prf import Key
from forensics import markplan, sqlprf
from forensics.stats import log_binom_sf

qs = st.sampled_from([4, 20, 100])


@given(value=st.integers(-10**12, 10**12), dither=st.integers(0, 10**6), bit=st.integers(0, 1),
       up=st.booleans(), q=qs)
def test_embed_then_read_returns_the_bit(value, dither, bit, up, q):
    d = dither % q
    marked = embed(value, CellPlan(True, d, bit, up), q)
    assert read(marked, d, q) == bit
    assert marked != value  # never the original: an unmarked copy stays recognisable
    assert abs(marked - value) <= q  # the declared tolerance
    if read(value, d, q) is None:
        assert abs(marked - value) <= q // 2  # the usual case moves at most half a period


@given(value=st.integers(-10**9, 10**9), q=qs)
def test_both_variants_differ_from_each_other_and_the_original(value, q):
    d = value % q  # worst case: the original sits on a lattice point
    v0 = embed(value, CellPlan(True, d, 0, True), q)
    v1 = embed(value, CellPlan(True, d, 1, True), q)
    assert len({value, v0, v1}) == 3


def test_innocent_hit_rate_is_one_over_q():
    """The null the attribution test assumes: a value not made for this export
    sits on the export's target point with probability 1/q, whatever the value."""
    rng = random.Random(4)
    q, n = 100, 200_000
    values = [rng.choice([5_000_000, 123_456, rng.randrange(10**8)]) for _ in range(n)]
    hits = sum(read(v, rng.randrange(q), q) == rng.randrange(2) for v in values)
    assert abs(hits / n - 1 / q) < 0.0015


def test_plan_from_material_selects_the_requested_fraction():
    key = Key(b"\x05" * 32)
    plans = [plan_from_material(key.mac("mark/v1", str(i)).hex(), 0, 100, 0.5) for i in range(4000)]
    share = sum(p.selected for p in plans) / len(plans)
    assert 0.46 < share < 0.54
    assert all(0 <= p.dither < 100 for p in plans)


@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.integers(2_000, 10**9), min_size=1, max_size=30), secret=st.binary(min_size=32, max_size=32))
def test_sql_embedding_and_reading_match_the_reference(values, secret):
    key = Key(secret)
    col = markplan.MarkColumn("amt", "amount", slot=1, q=100, decimals=2, min_units=2000, sel_hi=1.0)
    con = duckdb.connect()
    sqlprf.set_key(con, "ek", key)
    con.execute("CREATE TABLE t (row_key UBIGINT, amt VARCHAR)")
    rows = [(i * 7919 + 1, f"{v // 100}.{v % 100:02d}") for i, v in enumerate(values)]
    con.executemany("INSERT INTO t VALUES (?, ?)", rows)
    mat = markplan.material_sql("row_key", col.group, var="ek")
    plan = markplan.plan_sql("m", col)
    units = markplan.units_sql("amt", col)
    sql = (f"SELECT row_key, amt, {units} AS u, {plan['dither']} AS d, {plan['bit']} AS b, {plan['up']} AS up, "
           f"{markplan.format_units_sql(markplan.embed_units_sql(units, plan, col.q), 'amt', col)} AS marked "
           f"FROM (SELECT *, {mat} AS m FROM t)")
    for row_key, amt, u, d, b, up, marked in con.execute(sql).fetchall():
        ref = plan_from_material(key.mac("mark/v1", f"{row_key}|{col.group}").hex(), 1, 100, 1.0)
        assert (d, b, bool(up)) == (ref.dither, ref.bit, ref.up)
        want = embed(u, ref, 100)
        sign = "-" if want < 0 else ""
        assert marked == f"{sign}{abs(want) // 100}.{abs(want) % 100:02d}"
        got_bit = con.execute(f"SELECT {markplan.read_bit_sql(markplan.units_sql('v', col), str(d), 100)} "
                              "FROM (SELECT ? AS v)", [marked]).fetchone()[0]
        assert got_bit == ref.bit == read(want, d, 100)


def test_dates_keep_their_format_when_marked():
    col = markplan.MarkColumn("d", "date", slot=0, q=4)
    con = duckdb.connect()
    plan = {"dither": "1", "bit": "1", "up": "1"}
    for original in ("2019-03-04", "2019/03/04", "2019年03月04日", "20190304"):
        sql = markplan.format_units_sql(markplan.embed_units_sql(markplan.units_sql("v", col), plan, 4), "v", col)
        marked = con.execute(f"SELECT {sql} FROM (SELECT ? AS v)", [original]).fetchone()[0]
        assert marked is not None and len(marked) == len(original) and marked != original
        back = con.execute(f"SELECT {markplan.read_bit_sql(markplan.units_sql('v', col), '1', 4)} "
                           "FROM (SELECT ? AS v)", [marked]).fetchone()[0]
        assert back == 1


def test_binomial_tail_matches_agrawal_kiernan_example():
    """Agrawal & Kiernan: 100 readable bits, 74 agreeing is about 1e-6 at p=1/2."""
    import math

    p = math.exp(log_binom_sf(74, 100, 0.5))
    assert 1e-7 < p < 1e-5


@given(value=st.integers(100_000, 10**10), dither=st.integers(0, 9), bit=st.integers(0, 1), up=st.booleans())
def test_coarse_channel_survives_rounding_and_truncation(value, dither, bit, up):
    from canary.marks import embed_coarse, read_coarse

    plan = CellPlan(True, dither, bit, up)
    marked = embed_coarse(value, plan, 10, 100)
    assert marked != value and abs(marked - value) <= 10 * 100 + 50
    rounded = round(marked / 100) * 100
    truncated = (marked // 100) * 100
    for seen in (marked, rounded, truncated):
        assert read_coarse(seen, dither, 10, 100) == bit


@settings(max_examples=15, deadline=None)
@given(values=st.lists(st.integers(100_000, 10**9), min_size=1, max_size=20), secret=st.binary(min_size=32, max_size=32))
def test_sql_coarse_channel_matches_the_reference(values, secret):
    from canary.marks import embed_coarse, read_coarse

    key = Key(secret)
    col = markplan.MarkColumn("amt", "amount", slot=0, q=10, decimals=2, min_units=100_000, channel="coarse")
    con = duckdb.connect()
    sqlprf.set_key(con, "ek", key)
    con.execute("CREATE TABLE t (row_key UBIGINT, amt VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i + 1, f"{v // 100}.{v % 100:02d}") for i, v in enumerate(values)])
    plan = markplan.plan_sql("m", col)
    units = markplan.units_sql("amt", col)
    sql = (f"SELECT row_key, {units}, {plan['dither']}, {plan['bit']}, {plan['up']}, "
           f"{markplan.format_units_sql(markplan.embed_sql(units, plan, col), 'amt', col)} "
           f"FROM (SELECT *, {markplan.material_sql('row_key', 0, var='ek')} AS m FROM t)")
    for row_key, u, d, b, up, marked in con.execute(sql).fetchall():
        want = embed_coarse(u, CellPlan(True, d, b, bool(up)), 10, 100)
        assert marked == f"{want // 100}.{want % 100:02d}"
        whole_yuan = str(round(want / 100))
        got = con.execute(f"SELECT {markplan.read_sql(markplan.units_sql('v', col, reading=True), str(d), col)} "
                          "FROM (SELECT ? AS v)", [whole_yuan]).fetchone()[0]
        assert got == b == read_coarse(int(whole_yuan) * 100, d, 10, 100)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40),
       st.integers(min_value=0, max_value=15), st.sampled_from([4, 10, 20, 100]),
       st.floats(min_value=0, max_value=0.5), st.floats(min_value=0.5, max_value=1))
def test_numpy_cell_plans_match_the_sql_plans(materials, slot, q, lo, hi):
    """The export plans marks with NumPy (markread.cell_plans); the SQL
    plan (used for canaries and without the native core) must agree on every cell."""
    import pyarrow as pa

    col = markplan.MarkColumn("x", "amount", slot, q, 2, sel_lo=lo, sel_hi=hi)
    t = pa.table({"m": pa.array([m.hex() for m in materials])})
    p = markplan.plan_sql("m", col)
    rows = duckdb.sql(f"SELECT {p['selected']}, {p['dither']}, {p['bit']}, {p['up']} FROM t").fetchall()
    from forensics import markread

    nat = markread.cell_plans(markread.from_hex(t.column("m")), col)
    assert [tuple(r) for r in rows] == list(zip(*(nat[k].to_pylist() for k in ("selected", "dither", "bit", "up"))))


def _units_reference(text: str, decimals: int) -> int | None:
    """units_sql(reading=True) by the book, in exact decimals: the amount in
    10^-decimals units if it is a whole number of them (after the leak clean-up)."""
    t = text.strip().translate(str.maketrans("０１２３４５６７８９．，－", "0123456789.,-"))
    t = "".join(ch for ch in t if not ch.isspace() and ch not in "¥￥,元")
    wan = t.endswith("万")
    t = t.rstrip("万")
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", t):
        return None
    try:
        x = Decimal(t)
    except InvalidOperation:
        return None
    # DuckDB's DECIMAL(18, 6): at most 12 integer digits, rounded to 6 decimals
    x = x.quantize(Decimal("0.000001"), rounding="ROUND_HALF_UP")
    if abs(x) >= 10 ** 12:
        return None
    scaled = x * 10 ** (decimals + (4 if wan else 0))
    if scaled != scaled.to_integral_value() or abs(scaled) >= 9 * 10 ** 18:  # not whole, or beyond BIGINT
        return None
    return int(scaled)


_CON = duckdb.connect()
_AMOUNT_TEXT = st.builds(
    lambda sign, whole, frac, style: style(sign + str(whole) + ("." + frac if frac else "")),
    st.sampled_from(["", "-", "+"]),
    st.one_of(st.integers(0, 999), st.integers(0, 10**13)),
    st.text("0123456789", max_size=8),
    st.sampled_from([lambda s: s, lambda s: f" {s} ", lambda s: s + "万", lambda s: "¥" + s,
                     lambda s: s.translate(str.maketrans("0123456789.", "０１２３４５６７８９．")),
                     lambda s: f"{s}元"]))


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(_AMOUNT_TEXT, min_size=1, max_size=40), decimals=st.integers(0, 4))
def test_reading_an_amount_gives_exact_units(texts, decimals):
    """The reading SQL (a fast arm for plain decimals, the clean-up for the
    rest) turns every form into the exact number of units, or NULL."""
    col = markplan.MarkColumn("v", "amount", 0, 10, decimals)
    got = [r[0] for r in _CON.execute(f"SELECT {markplan.units_sql('v', col, reading=True)} "
                                     "FROM (SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i) ORDER BY i",
                                     [texts, texts]).fetchall()]
    assert got == [_units_reference(t, decimals) for t in texts]
