"""A canary made from a loan book's rows keeps its contract: maturity = grant
+ term months, payment = the annuity of principal, rate and term to the cent,
balance = what the schedule leaves after the payments due. A review found a
canary's term from one row and dates from another (85% of canaries broke
term against dates) and its balance's cents redrawn (54-93% off schedule)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from canary.contract import add_months, annuity, balance, payments_due
from canary.idcard import build_id
from canary.kinds import Kind
from canary.prf import Key, Stream
from canary.synth import Column, synthesize
from canary.validators import row_problems

TODAY = date(2026, 12, 2)
COLUMNS = [Column("会员号", Kind.CUSTNO), Column("姓名", Kind.NAME), Column("性别", Kind.GENDER),
           Column("身份证号", Kind.IDNO), Column("手机号", Kind.PHONE), Column("地址", Kind.ADDRESS),
           Column("客户等级", Kind.TIER), Column("贷款金额", Kind.AMOUNT), Column("年利率(%)", Kind.AMOUNT),
           Column("期限(月)", Kind.OTHER), Column("放款日期", Kind.DATE), Column("到期日期", Kind.DATE),
           Column("月供", Kind.AMOUNT), Column("贷款余额", Kind.AMOUNT), Column("信用分", Kind.OTHER)]


@st.composite
def loans(draw, tier: str = "金卡") -> dict:
    born = draw(st.dates(min_value=date(1955, 1, 1), max_value=date(2000, 12, 31)))
    start = draw(st.dates(min_value=max(date(2015, 1, 1), born + timedelta(days=18 * 366)),
                          max_value=TODAY - timedelta(days=1)))
    term = draw(st.sampled_from([12, 24, 36, 60, 120, 360]))
    rate = draw(st.sampled_from(["4.35", "4.75", "4.90", "5.50"]))
    principal = draw(st.one_of(st.sampled_from([50000.0, 300000.0, 1000000.0]),
                               st.integers(2_000_000, 200_000_000).map(lambda c: c / 100)))
    payment = round(annuity(principal, float(rate) / 1200, term), 2)
    paid = payments_due(start, term, TODAY)
    owed = round(balance(principal, float(rate) / 1200, term, paid, payment, "closed"), 2)
    seq = draw(st.integers(0, 999))
    return {"会员号": f"VIP{draw(st.integers(1, 999999)):06d}", "姓名": draw(st.sampled_from(["王伟", "李娜", "张小明"])),
            "性别": "男" if seq % 2 else "女", "身份证号": build_id("110101", born, seq),
            "手机号": "138" + f"{draw(st.integers(0, 10 ** 8 - 1)):08d}",
            "地址": f"北京市东城区建设路{draw(st.integers(1, 300))}号", "客户等级": tier,
            "贷款金额": f"{principal:.2f}", "年利率(%)": rate, "期限(月)": str(term),
            "放款日期": start.isoformat(), "到期日期": add_months(start, term).isoformat(),
            "月供": f"{payment:.2f}", "贷款余额": f"{owed:.2f}", "信用分": str(draw(st.integers(350, 850)))}


def contract_problems(row: dict) -> list[str]:
    """What a leaker who recomputes the contract finds wrong with ``row``."""
    p, rate, n = float(row["贷款金额"]), float(row["年利率(%)"]) / 1200, int(row["期限(月)"])
    start, end = date.fromisoformat(row["放款日期"]), date.fromisoformat(row["到期日期"])
    out = []
    if add_months(start, n) != end:
        out.append("maturity")
    payment = f"{round(annuity(p, rate, n), 2):.2f}"
    if payment != row["月供"]:
        out.append("payment")
    owed = round(balance(p, rate, n, payments_due(start, n, TODAY), float(payment), "closed"), 2)
    if f"{owed:.2f}" != row["贷款余额"]:
        out.append("balance")
    if p <= 0 or float(row["贷款余额"]) > p:
        out.append("amounts")
    return out


@settings(max_examples=30, deadline=None)
@given(row=loans())
def test_the_fixture_loans_add_up(row):
    assert contract_problems(row) == []


@settings(max_examples=150, deadline=None)
@given(donor=loans(), mate=loans(tier="普通"), lender=loans(), timeline=loans(), seed=st.integers(0, 2 ** 32))
def test_a_canary_made_of_loan_rows_keeps_its_contract(donor, mate, lender, timeline, seed):
    row = synthesize(COLUMNS, donor, Stream(Key(b"k" * 32), f"loan/{seed}"), today=TODAY, taken=lambda k, v: False,
                     mate=mate, lender=lender, timeline=timeline)
    assert contract_problems(row) == [], (row, timeline)
    assert not row_problems({Kind.IDNO: row["身份证号"], Kind.PHONE: row["手机号"]}, today=TODAY)
    # One row's contract, moved: the rate and term are a real row's, the grant more than a month away.
    source = next(r for r in (timeline, lender, donor) if r["期限(月)"] == row["期限(月)"]
                  and r["年利率(%)"] == row["年利率(%)"])
    assert abs((date.fromisoformat(row["放款日期"]) - date.fromisoformat(source["放款日期"])).days) > 30 or \
        date.fromisoformat(source["放款日期"]) > TODAY - timedelta(days=31)
    # Old enough at the grant, as a bank lends.
    born = date(int(row["身份证号"][6:10]), int(row["身份证号"][10:12]), int(row["身份证号"][12:14]))
    grant = date.fromisoformat(row["放款日期"])
    assert grant.year - born.year - ((grant.month, grant.day) < (born.month, born.day)) >= 18


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(loans(), min_size=4, max_size=4))
def test_the_contract_row_lends_no_free_column(rows):
    """The free columns (a credit score) come from another row than the
    contract, so the canary is no one row's twin on contract and score."""
    rows[3]["信用分"], rows[2]["信用分"] = "401", "777"
    row = synthesize(COLUMNS, rows[0], Stream(Key(b"k" * 32), "free"), today=TODAY, taken=lambda k, v: False,
                     mate=rows[1], lender=rows[2], timeline=rows[3])
    assert row["信用分"] == "777" and row["期限(月)"] == rows[3]["期限(月)"]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(loans(), min_size=4, max_size=4), asof=st.dates(date(2026, 1, 1), date(2026, 11, 1)),
       ages=st.permutations([400, 900, 1400, 1900]), seed=st.integers(0, 2 ** 32))
def test_a_balance_as_of_another_day_than_the_export_stays_on_the_schedule(rows, asof, ages, seed):
    """A list whose balances are as of its own day (not the export's), with the
    interest rounded monthly: the canary's balance is the schedule's at that day.
    Only for loans running at both days (a repaid loan's 0.00 does not tell
    which day the list is of) and rows of several ages: a young loan's balance
    is the same by the closed form, and rows that all agree with both
    schedules leave the canary's a guess (off by cents where they part)."""
    def owed(r: dict) -> str:
        p, i, n = float(r["贷款金额"]), float(r["年利率(%)"]) / 1200, int(r["期限(月)"])
        k = payments_due(date.fromisoformat(r["放款日期"]), n, asof)
        return f"{round(balance(p, i, n, k, float(r['月供']), 'monthly'), 2):.2f}"
    for r, age in zip(rows, ages):  # loans granted before the list's day and running past the export's
        start = asof - timedelta(days=age + date.fromisoformat(r["放款日期"]).toordinal() % 300)
        p, i = float(r["贷款金额"]), float(r["年利率(%)"]) / 1200
        r.update({"期限(月)": "360", "放款日期": start.isoformat(), "到期日期": add_months(start, 360).isoformat(),
                  "月供": f"{round(annuity(p, i, 360), 2):.2f}"})
        r["贷款余额"] = owed(r)
    row = synthesize(COLUMNS, rows[0], Stream(Key(b"k" * 32), f"asof/{seed}"), today=TODAY,
                     taken=lambda k, v: False, mate=rows[1], lender=rows[2], timeline=rows[3])
    start = date.fromisoformat(row["放款日期"])
    assert start <= asof and row["贷款余额"] == owed(row)
    assert add_months(start, int(row["期限(月)"])).isoformat() == row["到期日期"]
