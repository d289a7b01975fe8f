"""A rate column (年化收益率 4.35) is an amount column of a short menu of small
values. A canary takes the lending row's rate as it is: with new cents it was
a rate no real row has (36 of 38 canaries in a 5,000-row list), and as an
amount too small to move it held the canary's balance at the lender's to the
yuan. The balance moves again, by a factor that keeps an annuity at that rate."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from canary.kinds import Kind
from canary.prf import Key, Stream
from canary.synth import Column, synthesize
from test_canary_synth import COLUMNS, TODAY, donors

RATES = ["2.95", "3.15", "3.45", "3.85"]
WITH_RATE = [*COLUMNS, Column("年化收益率(%)", Kind.AMOUNT, menu=True)]


@settings(max_examples=100, deadline=None)
@given(donor=donors(), lender=donors(), rate=st.sampled_from(RATES), seed=st.integers(0, 2**32))
def test_a_canary_keeps_its_lenders_rate_and_moves_its_balance(donor, lender, rate, seed):
    lender = {**lender, "月日均存款": "123456.78", "年化收益率(%)": rate}
    row = synthesize(WITH_RATE, dict(donor, **{"年化收益率(%)": "9.99"}), Stream(Key(b"r" * 32), f"s{seed}"),
                     today=TODAY, taken=lambda kind, value: False, lender=lender)
    assert row["年化收益率(%)"] == rate
    assert row["月日均存款"].split(".")[0] != "123456"  # moved by 0.5-3% (same tier) or 6-25%


def test_an_export_finds_the_rate_menu_and_its_canaries_keep_it(tmp_path):
    import duckdb
    import pyarrow as pa

    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    table = make_customers(5000, seed=3)
    rng = random.Random(1)
    table = table.append_column("年化收益率(%)", pa.array([rng.choice(RATES) for _ in range(table.num_rows)]))
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    receipt = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    canaries = [json.loads(r[0]) for r in con.execute("SELECT row_json FROM canaries").fetchall()]
    con.close()
    assert len(canaries) == receipt.canaries >= 20
    assert all(c["年化收益率(%)"] in RATES for c in canaries)
    # The balance is no menu: canaries still move it (real balances to the yuan: a few by chance).
    balances = {v.split(".")[0] for v in table.column("月日均存款").to_pylist()}
    assert sum(c["月日均存款"].split(".")[0] in balances for c in canaries) < 0.3 * len(canaries)
