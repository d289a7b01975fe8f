"""Seed case: the insurer's outsourced call centre and the high-balance list.

A bank gives an insurer's outsourced call centre the name, phone, balance and
tier of customers with a monthly average deposit of at least 50,000 yuan.
Months later, scam callers who know victims' balances are reported; a list
is found on a seized laptop: phones rewritten as +86, balances rounded to
whole yuan, mixed with rows bought elsewhere. Which copy was it?

Run:  python examples/insurer_call_centre.py [WORKDIR]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from tracer import ExportRequest, attribute, export, init, leaks
from tracer.evidence_report import write_report
from tracer.home import Home
from tracer.lineage import add_recipient
from tracer.synthdata import make_customers, write_csv

COLUMNS = ["姓名", "手机号", "月日均存款", "客户等级"]


def main(workdir: Path) -> str:
    home = Home.at(workdir / "tracer-home")
    init(home)
    source = workdir / "customers.csv"
    write_csv(make_customers(20000, seed=7), source)

    # The insurer subcontracts outbound calls to two call centres; marketing also gets a list.
    add_recipient("Anxin Insurance", kind="vendor", contract_end=date(2027, 12, 31), home=home)
    for centre in ("Anxin call centre Hefei", "Anxin call centre Wuhan"):
        add_recipient(centre, kind="vendor", parent="Anxin Insurance", contract_end=date(2027, 12, 31), home=home)
        r = export(ExportRequest(str(source), centre, "insurance outreach to high-balance customers",
                                 str(workdir / f"{centre}.csv"), approver="Retail banking dept",
                                 authorization="AUTH-2026-0412", columns=COLUMNS,
                                 where='"月日均存款" >= 50000', retain_until=date(2027, 6, 30)), home=home)
        print(f"{centre}: {r.rows:,} rows, {r.canaries} canaries, balances marked within "
              f"{next(c.tolerance for c in r.columns if c.marked)}")
    export(ExportRequest(str(source), "Marketing dept", "campaign planning", str(workdir / "marketing.csv"),
                         approver="CMO", columns=COLUMNS), home=home)

    # What the police found: 400 rows of the Wuhan copy, reformatted, padded with 1,500 rows from elsewhere.
    wuhan = leaks.sample(leaks.read(workdir / "Anxin call centre Wuhan.csv"), 400, seed=1)
    wuhan = leaks.map_column(leaks.map_column(wuhan, "手机号", leaks.phone_plus86), "月日均存款", leaks.whole_yuan)
    elsewhere = make_customers(1500, seed=99, bank="south")
    padding = (COLUMNS, [[str(elsewhere.column(c)[i]) for c in COLUMNS] for i in range(elsewhere.num_rows)])
    found = leaks.write(workdir / "seized_list.csv", leaks.shuffle(leaks.concat(wuhan, padding), seed=2))

    verdict = attribute(found, home=home)
    print(verdict.summary)
    report = write_report(verdict, workdir / "evidence.html", home)
    print(f"evidence report: {report}")
    return verdict.verdict


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
