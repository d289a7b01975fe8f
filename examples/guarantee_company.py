"""Seed case: credit files sent to a guarantee company and a micro-loan partner.

Both partners receive the same customers' credit files. A list surfaces in a
chat group, re-saved from a spreadsheet (ID numbers turned into numbers),
converted to GBK, with pinyin column names. The two partners' copies hold the
same rows; only their fingerprints differ. The audit then shows which credit
exports lacked an authorization reference.

Run:  python examples/guarantee_company.py [WORKDIR]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

from tracer import ExportRequest, attribute, export, init, leaks
from tracer.home import Home
from tracer.lineage import add_recipient, audit
from tracer.synthdata import make_customers, write_csv

PINYIN = {"姓名": "xm", "身份证号": "sfzh", "手机号": "sjh", "月日均存款": "ye", "信用评分": "xypf", "开户日期": "khrq"}


def credit_file(workdir: Path) -> Path:
    """The bank's list with a credit score column, as a credit file would have."""
    header, rows = leaks.read_table_from_arrow(make_customers(8000, seed=11))
    score = [str(550 + (int(r[header.index("客户号")][-3:]) % 300)) for r in rows]
    header = header + ["信用评分"]
    rows = [r + [s] for r, s in zip(rows, score)]
    path = workdir / "credit_files.csv"
    leaks.write(path, (header, rows), encoding="utf-8-sig")
    return path


def main(workdir: Path) -> str:
    home = Home.at(workdir / "tracer-home")
    init(home)
    source = credit_file(workdir)
    columns = ["姓名", "身份证号", "手机号", "月日均存款", "信用评分", "开户日期"]
    add_recipient("Huaxin Guarantee", kind="vendor", contract_end=date(2027, 3, 31), home=home)
    add_recipient("Jinqiao Microloan", kind="vendor", contract_end=date(2027, 3, 31), home=home)
    export(ExportRequest(str(source), "Huaxin Guarantee", "loan guarantee assessment",
                         str(workdir / "huaxin.csv"), approver="Credit dept", authorization="GUAR-2026-88",
                         columns=columns, where="信用评分 >= 600"), home=home)
    export(ExportRequest(str(source), "Jinqiao Microloan", "joint lending pre-screen",
                         str(workdir / "jinqiao.csv"), approver="Credit dept", columns=columns,
                         where="信用评分 >= 600"), home=home)  # no authorization reference: the audit will say so

    # The chat-group list: 2,000 rows of Jinqiao's copy via a spreadsheet, GBK, pinyin headers.
    copy = leaks.sample(leaks.read(workdir / "jinqiao.csv"), 2000, seed=5)
    damaged = leaks.rename(leaks.spreadsheet_csv(copy), PINYIN)
    found = leaks.write(workdir / "chat_group_list.csv", damaged, encoding="gbk")

    verdict = attribute(found, home=home)
    print(verdict.summary)
    for c in verdict.candidates[:2]:
        print(f"  {c.recipient}: accused={c.accused}; marks {c.marks_agree}/{c.marks_readable}")
    for f in audit(home=home, today=date(2026, 11, 23)):
        print(f"audit [{f.rule}] {f.recipient}: {f.detail}")
    return verdict.verdict


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
