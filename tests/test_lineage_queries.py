"""Auditor queries (issue 6): who received customer X, what recipient Y got,
and audit findings for each seeded violation and nothing else."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from typer.testing import CliRunner

from tracer import ExportRequest, Home, export, init, leaks
from tracer.cli import app
from tracer.lineage import add_recipient, audit, customer_exports
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()
TODAY = date(2026, 11, 23)


def cli(home, *args):
    r = runner.invoke(app, [*map(str, args), "--home", str(home.root)])
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "customers.csv"
    write_csv(make_customers(800, seed=51), path)
    return path


def test_customer_in_exactly_three_exports(home, source, tmp_path):
    header, rows = leaks.read(source)
    target = rows[5]
    idno, phone = target[header.index("身份证号")], target[header.index("手机号")]
    custno = target[header.index("客户号")]
    wanted = []
    plans = [("R1", None), ("R2", f"客户号 = '{custno}' OR 客户等级 = '钻石'"), ("R3", None),
             ("R4", f"客户号 <> '{custno}'"), ("R5", f"客户号 <> '{custno}'")]
    for name, where in plans:
        r = export(ExportRequest(str(source), name, "p", str(tmp_path / f"{name}.csv"), approver="a", where=where),
                   home=home)
        if name in ("R1", "R2", "R3"):
            wanted.append(r.export_id)
    for ident in (idno, phone, f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"):
        res = customer_exports(ident, home=home)
        assert sorted(e["export_id"] for e in res["exports"]) == sorted(wanted)
        assert res["known_customer"] and res["canary_in"] == []
    data = json.loads(cli(home, "lineage", "customer", idno, "--json").stdout)
    assert sorted(e["export_id"] for e in data["exports"]) == sorted(wanted)
    assert "R4" not in cli(home, "lineage", "customer", phone).stdout
    # a canary is recognised as one
    canary = json.loads(_first_canary(home))
    res = customer_exports(canary["身份证号"], home=home)
    assert res["canary_in"] and res["exports"] == []


def _first_canary(home):
    import duckdb

    con = duckdb.connect(str(home.store_path), read_only=True)
    try:
        return con.execute("SELECT row_json FROM canaries WHERE shared_id IS NULL LIMIT 1").fetchone()[0]
    finally:
        con.close()


def test_recipient_commands_and_report(home, source, tmp_path):
    cli(home, "recipient", "add", "Anxin", "--kind", "vendor", "--contract-end", "2027-06-30")
    cli(home, "recipient", "add", "Anxin outbound team", "--kind", "vendor", "--parent", "Anxin")
    export(ExportRequest(str(source), "Anxin outbound team", "outreach", str(tmp_path / "a.csv"), approver="Li",
                         authorization="AUTH-2026-17", columns=["姓名", "手机号"]), home=home)
    listed = json.loads(cli(home, "recipient", "list", "--json").stdout)
    team = next(r for r in listed if r["name"] == "Anxin outbound team")
    assert team["parent"] == "Anxin" and team["exports"] == 1
    shown = json.loads(cli(home, "lineage", "recipient", "Anxin outbound team", "--json").stdout)
    assert shown["exports"][0]["authorization_ref"] == "AUTH-2026-17"
    assert shown["exports"][0]["columns"] == ["姓名", "手机号"]
    assert json.loads(cli(home, "lineage", "recipient", "Anxin", "--json").stdout)["subcontractors"] == \
        ["Anxin outbound team"]
    csv_out = cli(home, "lineage", "recipient", "Anxin outbound team", "--csv").stdout
    assert csv_out.splitlines()[0].startswith("export_id,")
    r = runner.invoke(app, ["recipient", "add", "X", "--kind", "alien", "--home", str(home.root)])
    assert r.exit_code == 2


def test_audit_flags_each_seeded_violation_and_nothing_else(home, source, tmp_path):
    made = iter(range(1000))  # each export its own file: one never writes over another's copy

    def ex(name, **kw):
        kw.setdefault("purpose", "p")
        kw.setdefault("approver", "boss")
        return export(ExportRequest(str(source), name, out=str(tmp_path / f"{name}-{next(made)}.csv"), **kw),
                      home=home).export_id

    for name, kind, end in [("good vendor", "vendor", "2030-01-01"), ("dept", "department", None),
                            ("no-auth vendor", "vendor", "2030-01-01"), ("ended vendor", "vendor", "2026-01-31"),
                            ("peer1", "department", None), ("peer2", "department", None), ("big", "department", None)]:
        add_recipient(name, kind=kind, contract_end=date.fromisoformat(end) if end else None, home=home)
    small = ["姓名", "客户等级"]
    third = "hash(客户号) % 4 = 0"  # a quarter of the customers each
    ex("good vendor", columns=["姓名", "身份证号", "月日均存款"], authorization="AUTH-1", where=third,
       retain_until=date(2030, 1, 1))
    ex("dept", columns=["姓名", "身份证号"], where=third)  # departments need no authorization reference
    ex("peer1", columns=small, where=third)
    ex("peer2", columns=small, where=third)
    seeded = {
        "no-purpose": ex("dept", columns=small, where=third, purpose=None),
        "no-approver": ex("dept", columns=small, where=third, approver=None),
        "vendor-without-authorization": ex("no-auth vendor", columns=["姓名", "月日均存款"], where=third),
        "past-retention": ex("good vendor", columns=small, where=third, authorization="AUTH-2",
                             retain_until=date(2026, 6, 30)),
    }
    ex("big", columns=small)  # every customer: about 4x its peers
    found = audit(home=home, today=TODAY)
    rules = {(f.rule, f.subject) for f in found}
    for rule, export_id in seeded.items():
        assert (rule, export_id) in rules, rule
    assert ("contract-ended", "ended vendor") in rules
    assert ("outlier-volume", "big") in rules
    expected = set(seeded.items()) | {("contract-ended", "ended vendor"), ("outlier-volume", "big")}
    assert rules == expected, rules - expected
    data = json.loads(cli(home, "lineage", "audit", "--today", "2026-11-23", "--json").stdout)
    assert {(d["rule"], d["subject"]) for d in data} == expected


def test_export_after_contract_end_is_flagged(home, source, tmp_path):
    add_recipient("late vendor", kind="vendor", contract_end=date(2026, 1, 1), home=home)
    eid = export(ExportRequest(str(source), "late vendor", "p", str(tmp_path / "late.csv"), approver="a",
                               authorization="A-9", columns=["姓名"]), home=home).export_id
    rules = {(f.rule, f.subject) for f in audit(home=home, today=TODAY)}
    assert ("export-after-contract-end", eid) in rules and ("contract-ended", "late vendor") in rules


def test_each_export_names_its_own_source_file(home, tmp_path, monkeypatch):
    """Two copies of one list: the store registers the content once, but each
    export's lineage names the file it was made from, as an absolute path."""
    import shutil

    from tracer import list_exports

    (tmp_path / "a").mkdir()
    first = tmp_path / "a" / "first.csv"
    write_csv(make_customers(300, seed=31), first)
    second = tmp_path / "second.csv"
    shutil.copy(first, second)
    monkeypatch.chdir(tmp_path)
    export(ExportRequest("a/first.csv", "One", "p", str(tmp_path / "1.csv")), home=home)
    export(ExportRequest("second.csv", "Two", "p", str(tmp_path / "2.csv")), home=home)
    first.unlink()
    got = {e["recipient"]: e["source"] for e in list_exports(home=home)}
    assert got == {"One": str(first.resolve()), "Two": str(second.resolve())}


def test_recipient_names_are_one_party_and_one_line(home, tmp_path):
    """' Rec A ' is 'Rec A'; 'rec  a' beside it would split one party's lineage;
    a line break in a name would forge lines in a verdict; a recipient cannot
    be its own ancestor."""
    from canary.errors import UsageError

    src = tmp_path / "c.csv"
    write_csv(make_customers(200, seed=33), src)
    r = export(ExportRequest(str(src), "  Rec A ", "p", str(tmp_path / "1.csv")), home=home)
    assert r.recipient == "Rec A"
    with pytest.raises(UsageError, match="'Rec A' is already registered"):
        export(ExportRequest(str(src), "rec  a", "p", str(tmp_path / "2.csv")), home=home)
    assert not (tmp_path / "2.csv").exists()
    with pytest.raises(UsageError, match="control characters"):
        export(ExportRequest(str(src), "A\nVERDICT: ACCUSED", "p", str(tmp_path / "3.csv")), home=home)
    add_recipient("Anxin", home=home)
    with pytest.raises(UsageError, match="its own parent"):
        add_recipient("Anxin", parent="Anxin", home=home)
    add_recipient("Anxin call centre", parent="Anxin", home=home)
    with pytest.raises(UsageError, match="cannot also be a child"):
        add_recipient("Anxin", parent="Anxin call centre", home=home)
    with pytest.raises(UsageError, match="already registered"):
        add_recipient("ANXIN", home=home)
    with pytest.raises(UsageError, match="already registered"):
        add_recipient("Ａｎｘｉｎ", home=home)  # full-width letters look the same in a verdict
    with pytest.raises(UsageError, match="zero-width"):
        add_recipient("Anxin\u200b", home=home)
    assert add_recipient("Anxin agent", parent="anxin", home=home).parent == "Anxin"


def test_a_recipient_registered_with_outer_spaces_is_still_found(home, tmp_path):
    """Names were not trimmed before: 'Rec B ' in an older store is the party
    a steward now types as 'Rec B' (the row is inserted directly here)."""
    import duckdb

    con = duckdb.connect(str(home.store_path))
    con.execute("INSERT INTO recipients (recipient_id, name, created_at) VALUES (1, 'Rec B ', now())")
    con.close()
    src = tmp_path / "c.csv"
    write_csv(make_customers(150, seed=34), src)
    r = export(ExportRequest(str(src), "Rec B", "p", str(tmp_path / "1.csv")), home=home)
    assert r.recipient == "Rec B " and not r.recipient_created


def test_an_export_past_its_terms_warns_at_once(tmp_path):
    """An expired contract or a retention date already past was flagged only
    by a later `lineage audit`: the steward is told on the export itself."""
    from datetime import date

    home = Home.at(tmp_path / "home")
    init(home)
    source = tmp_path / "c.csv"
    write_csv(make_customers(200, seed=4), source)
    add_recipient("Old vendor", kind="vendor", contract_end=date(2020, 1, 31), home=home)
    receipt = export(ExportRequest(str(source), "Old vendor", "p", str(tmp_path / "o.csv"),
                                   retain_until=date(2021, 1, 1)), home=home)
    assert any("contract ended on 2020-01-31" in w for w in receipt.warnings)
    assert any("--retain-until 2021-01-01 is already past" in w for w in receipt.warnings)
    fresh = export(ExportRequest(str(source), "New vendor", "p", str(tmp_path / "n.csv"),
                                 retain_until=date(2099, 1, 1)), home=home)
    assert not any("contract" in w or "retain" in w for w in fresh.warnings)


def test_lineage_csv_never_hands_a_spreadsheet_a_formula(home, source, tmp_path):
    """A recipient named =HYPERLINK(...) came out raw in `lineage exports --csv`."""
    name = '=HYPERLINK("http://evil.example","x")'
    export(ExportRequest(str(source), name, "p", str(tmp_path / "f.csv"), approver="-5"), home=home)
    rows = list(csv.DictReader(io.StringIO(cli(home, "lineage", "exports", "--csv").stdout)))
    assert rows[0]["recipient"] == "'" + name and rows[0]["approver"] == "-5"  # a number stays a number


def test_json_and_csv_together_are_refused(home):
    r = runner.invoke(app, ["lineage", "exports", "--json", "--csv", "--home", str(home.root)])
    assert r.exit_code == 2 and "give --json or --csv, not both" in r.stderr and r.stdout == ""
