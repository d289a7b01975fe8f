"""Marks keep a loan's contract: only the grant date and the principal carry
marks, and the maturity, payment and balance are recomputed from them, so a
leaker who recomputes contracts finds on a marked copy what the source shows."""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary import contract
from canary.contract import add_months, annuity, balance, payments_due
from canary.idcard import build_id
from forensics.contractmarks import Keeper, recognise
from tracer import ExportRequest, Home, attribute, export, init

TODAY = date(2026, 11, 20)
HEADER = ["客户号", "姓名", "身份证号", "手机号", "客户等级", "贷款金额", "年利率(%)", "期限(月)", "放款日期", "到期日期",
          "月供", "贷款余额"]


def loan_book(n: int, seed: int) -> list[dict]:
    """Loans that add up: maturity = grant + term, payment = the annuity to
    the cent, balance = the closed-form schedule's after the payments due."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
        start = date(2017, 1, 1) + timedelta(days=rng.randrange((TODAY - date(2017, 1, 1)).days))
        term, rate = rng.choice([(12, "4.35"), (36, "4.75"), (60, "5.50"), (120, "4.90")])
        principal = rng.choice([10, 20, 50, 100]) * 10000.0 if rng.random() < 0.7 else \
            round(rng.uniform(50000, 900000), 2)
        payment = round(annuity(principal, float(rate) / 1200, term), 2)
        owed = round(balance(principal, float(rate) / 1200, term, payments_due(start, term, TODAY), payment,
                             "closed"), 2)
        rows.append({"客户号": f"C{100000 + 3 * k:08d}", "姓名": rng.choice(["王伟", "李娜", "张小明", "刘洋"]),
                     "身份证号": build_id("110101", born, k % 1000), "手机号": f"138{rng.randrange(10 ** 8):08d}",
                     "客户等级": rng.choice(["普通", "金卡"]), "贷款金额": f"{principal:.2f}", "年利率(%)": rate,
                     "期限(月)": str(term), "放款日期": start.isoformat(), "到期日期": add_months(start, term).isoformat(),
                     "月供": f"{payment:.2f}", "贷款余额": f"{owed:.2f}"})
    return rows


def problems(row: dict) -> set[str]:
    """What a leaker who recomputes the contract finds wrong with ``row``."""
    p, i, n = float(row["贷款金额"]), float(row["年利率(%)"]) / 1200, int(row["期限(月)"])
    start = date.fromisoformat(row["放款日期"])
    out = set()
    if add_months(start, n).isoformat() != row["到期日期"]:
        out.add("maturity")
    payment = f"{round(annuity(p, i, n), 2):.2f}"
    if payment != row["月供"]:
        out.add("payment")
    if f"{round(balance(p, i, n, payments_due(start, n, TODAY), float(payment), 'closed'), 2):.2f}" != row["贷款余额"]:
        out.add("balance")
    return out


def write(rows: list[dict], path) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, HEADER)
        w.writeheader()
        w.writerows(rows)


def read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("loans")
    rows = loan_book(3000, seed=4)
    write(rows, d / "loans.csv")
    home = Home.at(d / "home")
    init(home)
    receipts = [export(ExportRequest(str(d / "loans.csv"), who, "p", str(d / f"{who}.csv"),
                                     now=datetime(TODAY.year, TODAY.month, TODAY.day, 9)), home=home)
                for who in ("A", "B")]
    return d, home, rows, receipts


def test_every_real_rows_contract_still_adds_up_after_marking(exported):
    d, _, rows, (receipt, _) = exported
    assert all(not problems(r) for r in rows)  # the source
    source = {r["客户号"]: r for r in rows}
    real = [r for r in read(d / "A.csv") if r["客户号"] in source]
    assert len(real) == len(rows)
    assert [r for r in real if problems(r)] == []
    moved = {c: sum(r[c] != source[r["客户号"]][c] for r in real) for c in HEADER}
    # The free values carry the marks, the bound ones follow them; the terms never move.
    assert moved["放款日期"] > 0.3 * len(rows) and moved["贷款金额"] > 0.3 * len(rows)
    # (a maturity stays where two grants reach one month's end: 01-30 and 01-31 + 1 month)
    assert 0.98 * moved["放款日期"] <= moved["到期日期"] <= moved["放款日期"] and moved["月供"] > 0.6 * moved["贷款金额"]
    # A round loan (500000.00) stays round: moved, it would be off the list's menu of loans.
    assert all(r["贷款金额"] == source[r["客户号"]]["贷款金额"] for r in real
               if float(source[r["客户号"]]["贷款金额"]) % 100 == 0)
    assert moved["年利率(%)"] == moved["期限(月)"] == 0
    # The payments due by the export's day never change: a balance moves with its principal only.
    for r in real:
        s, n = date.fromisoformat(r["放款日期"]), int(r["期限(月)"])
        was = source[r["客户号"]]
        assert payments_due(s, n, TODAY) == payments_due(date.fromisoformat(was["放款日期"]), n, TODAY)
        assert abs((s - date.fromisoformat(was["放款日期"])).days) <= 4
        assert abs(float(r["贷款余额"]) - float(was["贷款余额"])) <= 11
    channels = {c.name: c for c in receipt.columns}
    assert {c for c, rec in channels.items() if rec.marked} == {"放款日期", "贷款金额"}
    assert "bound by the loan's contract" in channels["月供"].note


def test_a_leak_of_a_marked_loan_book_names_its_recipient(exported):
    d, home, _, _ = exported
    leak = read(d / "A.csv")[:300]
    with open(d / "leak.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["身份证号", "贷款金额", "放款日期", "到期日期", "月供", "贷款余额"], extrasaction="ignore")
        w.writeheader()
        w.writerows(leak)
    v = attribute(d / "leak.csv", home=home)
    assert [c.recipient for c in v.accused] == ["A"]


# -- the columnar recomputation against canary.contract's scalar code -----------------

CONTRACT = contract.Contract("s", "m", "n", 1, 0, "p", "r", 1200.0, "a", "b", ("closed",), "on", True)


@st.composite
def contracts(draw):
    start = draw(st.dates(min_value=date(2010, 1, 1), max_value=TODAY - timedelta(days=8)))
    n = draw(st.sampled_from([6, 12, 36, 60, 360]))
    rate = draw(st.sampled_from(["0", "3.85", "4.35", "5.5"]))
    cents = draw(st.integers(1_000_00, 50_000_000_00))
    return start, n, rate, cents, draw(st.integers(-4, 4)), draw(st.integers(-1050, 1050)), \
        draw(st.sampled_from(["closed", "exact", "monthly"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(contracts(), min_size=1, max_size=30))
def test_recomputed_cells_are_what_canary_contract_computes(cases):
    rows, marked = [], []
    for start, n, rate, cents, days, dp, rule in cases:
        p, i = cents / 100, float(rate) / 1200
        a = round(annuity(p, i, n), 2)
        k = payments_due(start, n, TODAY)
        rows.append({"s": start.isoformat(), "m": add_months(start, n).isoformat(), "n": str(n), "p": f"{p:.2f}",
                     "r": rate, "a": f"{a:.2f}", "b": f"{round(balance(p, i, n, k, a, rule), 2):.2f}"})
        marked.append({"s": (start + timedelta(days=days)).isoformat(), "p": f"{(cents + dp) / 100:.2f}"})
    deal = contract.replace(CONTRACT, rules=("closed", "exact", "monthly"))
    got, back = Keeper(deal, TODAY, 4).keep({c: pa.array([r[c] for r in rows]) for c in "smnprab"},
                                            {c: pa.array([r[c] for r in marked]) for c in "sp"})
    assert not back.any()
    for j, (row, mark) in enumerate(zip(rows, marked)):
        s = date.fromisoformat(got["s"][j].as_py()) if "s" in got else date.fromisoformat(mark["s"])
        n, i = int(row["n"]), float(row["r"]) / 1200
        s0 = date.fromisoformat(row["s"])
        assert payments_due(s, n, TODAY) == payments_due(s0, n, TODAY)
        assert abs((s - s0).days) <= 4 and ((s - s0).days - (date.fromisoformat(mark["s"]) - s0).days) % 4 == 0
        m = got["m"][j].as_py() if "m" in got else row["m"]
        assert m == add_months(s, n).isoformat()
        p = float(mark["p"])
        a = got["a"][j].as_py() if "a" in got else row["a"]
        assert a == f"{round(annuity(p, i, n), 2):.2f}"
        b = got["b"][j].as_py() if "b" in got else row["b"]
        rules = [r for r in deal.rules if f"{round(balance(float(row['p']), i, n, payments_due(s0, n, TODAY), float(row['a']), r), 2):.2f}" == row["b"]]
        assert b == f"{round(balance(p, i, n, payments_due(s, n, TODAY), float(a), rules[0]), 2):.2f}"


def test_a_contract_is_recognised_on_most_rows_and_not_on_a_list_without_one():
    rows = loan_book(200, seed=1)
    numbers = ["贷款金额", "年利率(%)", "期限(月)", "月供", "贷款余额"]
    deal = recognise(rows, ["放款日期", "到期日期"], numbers, TODAY)
    assert (deal.start, deal.end, deal.term, deal.principal, deal.rate, deal.payment, deal.balance) == \
        ("放款日期", "到期日期", "期限(月)", "贷款金额", "年利率(%)", "月供", "贷款余额")
    for r in rows:  # dates a term apart by chance on a few rows are not a contract
        r["到期日期"] = (date.fromisoformat(r["放款日期"]) + timedelta(days=400)).isoformat()
    assert recognise(rows, ["放款日期", "到期日期"], numbers, TODAY) is None


def test_the_sql_marking_path_keeps_contracts_too(tmp_path, monkeypatch):
    """Without the native core the channels are marked by SQL; the contract
    is recomputed on the same values, and a filter's re-check on them keeps it."""
    monkeypatch.setenv("TRACER_NATIVE", "0")
    rows = loan_book(400, seed=9)
    write(rows, tmp_path / "loans.csv")
    home = Home.at(tmp_path / "home")
    init(home)
    export(ExportRequest(str(tmp_path / "loans.csv"), "R", "p", str(tmp_path / "o.csv"),
                         where='"贷款余额" >= 1000', now=datetime(TODAY.year, TODAY.month, TODAY.day, 9)), home=home)
    source = {r["客户号"]: r for r in rows}
    real = [r for r in read(tmp_path / "o.csv") if r["客户号"] in source]
    assert len(real) == sum(float(r["贷款余额"]) >= 1000 for r in rows)
    assert [r for r in real if problems(r)] == []
    uneven = [r for r in real if float(source[r["客户号"]]["贷款金额"]) % 100]  # a round loan is never marked
    assert sum(r["月供"] != source[r["客户号"]]["月供"] for r in uneven) > 0.6 * len(uneven)
