"""Quickstart: export two identical copies, leak one, and find out which.

Run:  python examples/quickstart.py [WORKDIR]
Uses only the public API (tracer.init, export, attribute, list_exports) and a
fresh home inside WORKDIR (default: a temporary folder), never ~/.tracer.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tracer import ExportRequest, attribute, export, init, leaks, list_exports
from tracer.synthdata import make_customers, write_csv


def main(workdir: Path) -> str:
    home = workdir / "tracer-home"
    init(home)

    source = workdir / "customers.csv"
    write_csv(make_customers(3000, seed=1), source)

    # Two loan reviewers get exactly the same rows and columns.
    for reviewer in ("Reviewer Zhao", "Reviewer Qian"):
        receipt = export(ExportRequest(str(source), reviewer, "loan review", str(workdir / f"{reviewer}.csv"),
                                       approver="Credit office", where="客户等级 <> '普通'"), home=home)
        print(f"{reviewer}: {receipt.rows} rows, {receipt.canaries} canaries, sha256 {receipt.sha256[:12]}")

    # Forty rows of Qian's copy turn up, without the address column.
    copy = leaks.read(workdir / "Reviewer Qian.csv")
    leaked = leaks.write(workdir / "leaked.csv", leaks.drop(leaks.sample(copy, 40, seed=3), ["地址"]))

    verdict = attribute(leaked, home=home)
    print(verdict.summary)
    for c in verdict.candidates:
        print(f"  {c.recipient}: accused={c.accused} p={c.p_value:.3g} marks {c.marks_agree}/{c.marks_readable}")

    print(f"{len(list_exports(home=home))} exports recorded")
    return verdict.verdict


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
