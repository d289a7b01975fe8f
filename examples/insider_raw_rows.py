"""Seed case: an insider pulls raw rows that were never exported.

One staffer queried customers straight from the source and sold them. Every
recipient's copy carries fingerprints; the sold rows carry none. tracer says
so instead of blaming a recipient who happened to hold the same customers,
and lineage shows which exports did include one of the customers involved.

Run:  python examples/insider_raw_rows.py [WORKDIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tracer import ExportRequest, attribute, export, init, leaks
from tracer.home import Home
from tracer.lineage import customer_exports
from tracer.synthdata import make_customers, write_csv


def main(workdir: Path) -> str:
    home = Home.at(workdir / "tracer-home")
    init(home)
    source = workdir / "customers.csv"
    write_csv(make_customers(6000, seed=3), source)
    for name, where in [("Branch audit", None), ("Post-loan inspection", "客户等级 <> '普通'"),
                        ("Credit review", "客户等级 <> '普通'")]:
        export(ExportRequest(str(source), name, "routine", str(workdir / f"{name}.csv"), approver="Ops",
                             where=where), home=home)

    # 1,000 rows taken straight from the core system: never exported in this form.
    raw = leaks.sample(leaks.read(source), 1000, seed=4)
    found = leaks.write(workdir / "sold_rows.csv", raw)
    verdict = attribute(found, home=home)
    print(verdict.summary)
    for c in verdict.candidates[:3]:
        print(f"  {c.recipient}: {c.excluded}")

    one_id = raw[1][0][raw[0].index("身份证号")]
    held = customer_exports(one_id, home=home)
    print(f"one of the sold customers appears in {len(held['exports'])} export(s): "
          f"{', '.join(e['recipient'] for e in held['exports'])}")
    return verdict.verdict


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
