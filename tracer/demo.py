"""tracer demo: the whole idea in under a minute, offline, on synthetic data."""

from __future__ import annotations

from typing import Callable

from canary.errors import UsageError

from . import api, leaks
from .export import ExportRequest, export
from .home import Home
from .report import fmt_p, receipt_text
from .synthdata import make_customers, write_csv

BALANCE = "月日均存款"
MIN_ROWS = 1000  # the demo filters the list four ways and leaks 300 rows of one copy


def run_demo(home: Home, *, rows: int = 5000, echo: Callable[[str], None] = print) -> dict:
    """Run the walk-through in ``home``; return the verdicts (for tests)."""
    if rows < MIN_ROWS:  # its filters, leak and copies need a list of some size (was a crash half-way)
        raise UsageError(f"--rows must be at least {MIN_ROWS:,}: the demo filters the list four ways and leaks "
                         "300 rows of one copy")

    def step(title: str) -> None:
        echo("")
        echo(f"== {title}")

    step("1. Set up the home (lineage store + secret key)")
    r = api.init(home)
    echo(f"home {r.home}; key id {r.key_id}")
    work = home.root / "demo"
    work.mkdir(parents=True, exist_ok=True)

    step(f"2. A synthetic bank list: {rows:,} customers (valid IDs, phones, addresses, balances)")
    source = work / "customers.csv"
    write_csv(make_customers(rows, seed=2024), source)
    echo(f"wrote {source}")

    step("3. Export fingerprinted copies to four recipients")
    plans = [
        ("Anxin Insurance call centre", "insurance outreach to high-balance customers",
         ["姓名", "手机号", BALANCE, "客户等级"], f'"{BALANCE}" >= 50000'),
        ("Credit review team A", "annual credit review of premium customers", None, "客户等级 <> '普通'"),
        ("Credit review team B", "annual credit review of premium customers", None, "客户等级 <> '普通'"),
        ("Huixin Microloan (partner)", "pre-approved loan offers", ["姓名", "身份证号", "手机号"],
         "客户号 LIKE '%7'"),
    ]
    outs = {}
    for recipient, purpose, cols, where in plans:
        out = work / (recipient.split(" (")[0].replace(" ", "_").lower() + ".csv")
        rec = export(ExportRequest(str(source), recipient, purpose, str(out), approver="Li Wei (data office)",
                                   columns=cols, where=where), home=home)
        outs[recipient] = out
        echo(receipt_text(rec))
        echo("")
    echo("Credit review teams A and B received exactly the same rows and columns.")

    step("4. A leak surfaces: 150 rows of team B's copy, shuffled, without the branch column")
    leak = work / "leaked.csv"
    copy_b = leaks.read(outs["Credit review team B"])
    leaks.write(leak, leaks.drop(leaks.shuffle(leaks.sample(copy_b, 150, seed=7), seed=8), ["开户网点"]))
    echo(f"wrote {leak}")

    step("5. tracer attribute leaked.csv")
    v = api.attribute(leak, home=home)
    echo(f"verdict: {v.verdict}")
    echo(v.summary)
    for c in v.candidates[:3]:
        status = "ACCUSED" if c.accused else ("excluded: " + c.excluded if c.excluded else "not accused")
        echo(f"  {c.recipient}: p = {fmt_p(c.p_value, c.log_p)}; marks {c.marks_agree}/{c.marks_readable}; "
             f"canaries {len({h.canary_no for h in c.hits})}; {status}")

    step("6. Null cases: raw rows from the source, and another bank's list")
    raw = work / "raw_from_source.csv"
    leaks.write(raw, leaks.sample(leaks.read(source), 300, seed=3))
    v_raw = api.attribute(raw, home=home)
    echo(f"raw source rows -> {v_raw.verdict}: {v_raw.summary}")
    other = work / "other_bank.csv"
    write_csv(make_customers(500, seed=99, bank="south"), other)
    v_other = api.attribute(other, home=home)
    echo(f"another bank's list -> {v_other.verdict}: {v_other.summary}")

    step("Next")
    echo(f"  tracer attribute {leak}            # the full evidence")
    echo("  tracer lineage exports --json      # who received what, when, why")
    return {"leak": v, "raw": v_raw, "other": v_other}
