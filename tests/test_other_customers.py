"""Rows of the bank's other customers: customers numbered in the same
sequence as the exported list who were never in any export.

A unique canary's customer number is drawn in the gaps of the list's own
numbering, and those gaps are the bank's other customers (a review found a
leak of 2,000 such customers accusing both recipients at 1.9e-66: their
numbers matched canaries'). A number alone only locates a row; the canary
counts as found where that row's name is the canary's too.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from tracer import ExportRequest, Home, attribute, export, init, leaks, list_exports
from tracer.synthdata import make_customers, write_csv

N = 6000


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    d = tmp_path_factory.mktemp("other_customers")
    home = d / "home"
    init(home)
    t = make_customers(N, seed=11)
    t = t.set_column(0, "客户号", pa.array([f"6{100001 + i:011d}" for i in range(N)]))  # one dense sequence
    other = np.zeros(N, bool)
    other[np.random.default_rng(5).choice(N, 600, replace=False)] = True
    write_csv(t.filter(pa.array(~other)), d / "source.csv")  # the list: 90% of the customers
    write_csv(t.filter(pa.array(other)), d / "others.csv")  # never in any export
    for who in ("B", "C"):
        export(ExportRequest(str(d / "source.csv"), who, "review", str(d / f"{who}.csv")), home=home)
    return d, home


def _write(path, table, columns=None):
    return leaks.write(path, leaks.keep(table, columns) if columns else table)


def test_the_banks_other_customers_accuse_nobody(numbered):
    d, home = numbered
    others = leaks.read(d / "others.csv")
    for columns, name in ((None, "all"), (["客户号", "姓名", "手机号"], "custno_name_phone"),
                          (["客户号", "姓名"], "custno_name")):
        v = attribute(str(_write(d / f"others_{name}.csv", others, columns)), home=home)
        assert not v.accused, (name, [(c.recipient, c.p_value) for c in v.candidates])
        assert all(not c.hits for c in v.candidates), name  # no row of theirs is called a canary


def test_canaries_located_by_number_and_name_still_accuse(numbered):
    """A copy's canaries keep their names beside their numbers: the number
    locates the row, the name confirms it, and the leaker is named on them
    (amounts and dates dropped, so no mark speaks; phones dropped too)."""
    d, home = numbered
    v = attribute(str(_write(d / "b_custno_name.csv", leaks.read(d / "B.csv"), ["客户号", "姓名"])), home=home)
    assert [c.recipient for c in v.accused] == ["B"]
    b = v.accused[0]
    assert b.hits and all(set(h.fields) == {"custno", "name"} for h in b.hits)


def test_a_copy_kept_to_numbers_and_names_is_still_known_as_a_copy(numbered, tmp_path):
    """B's copy cut to customer numbers, names and balances, given back and
    exported onward to D: B's canaries among its rows are found by number and
    confirmed by name, so D's export records it as made from B's copy, and a
    leak of D's copy (numbers and names only) never accuses B."""
    d, home = numbered
    returned = leaks.write(tmp_path / "returned.csv", leaks.keep(leaks.read(d / "B.csv"), ["客户号", "姓名", "月日均存款"]))
    onward = export(ExportRequest(str(returned), "D", "review", str(tmp_path / "D.csv")), home=home)
    b_id = next(e["export_id"] for e in list_exports(home=home) if e["recipient"] == "B")
    assert any("copy of an earlier export" in n and b_id in n and "canaries" in n for n in onward.notes)
    v = attribute(str(_write(tmp_path / "d_leak.csv", leaks.read(tmp_path / "D.csv"), ["客户号", "姓名"])), home=home)
    assert "B" not in {c.recipient for c in v.accused}, [(c.recipient, c.p_value) for c in v.candidates]
    assert [c.recipient for c in v.accused] == ["D"]


def test_people_sharing_canaries_id_numbers_accuse_nobody(numbered, tmp_path):
    """A canary's ID number keeps its donor's region, police-station block and
    a birthdate near the donor's, so in a dense district roster real people
    hold some of them (a review found 8-24% of canaries' ID numbers in one).
    Such a person has another name and phone: the ID number alone only
    locates the row. The canaries' own rows (ID number and name) still accuse."""
    import duckdb

    d, home = numbered
    con = duckdb.connect(str(Home.at(home).store_path), read_only=True)
    canaries = [json.loads(r[0]) for r in con.execute(
        "SELECT c.row_json FROM canaries c JOIN exports e USING (export_no) JOIN recipients r USING (recipient_id) "
        "WHERE r.name = 'B' AND c.shared_id IS NULL").fetchall()]
    con.close()
    header, rows = leaks.read(d / "others.csv")
    at = {c: header.index(c) for c in ("身份证号", "客户号")}
    people = [list(r) for r in rows]
    for person, canary in zip(people, canaries):  # another person, the canary's ID number
        person[at["身份证号"]] = canary["身份证号"]
    roster = leaks.keep((header, people), ["姓名", "身份证号", "手机号", "地址"])
    v = attribute(str(leaks.write(tmp_path / "roster.csv", roster)), home=home)
    assert not v.accused, [(c.recipient, c.p_value) for c in v.candidates]
    own = leaks.keep((header, [[c.get(h, "") for h in header] for c in canaries[:10]]), ["姓名", "身份证号"])
    assert [c.recipient for c in attribute(str(leaks.write(tmp_path / "own.csv", own)), home=home).accused] == ["B"]


def test_a_canarys_email_and_name_are_one_piece_of_evidence():
    """Email is made from the name (john.smith -> john.jones with the name John
    Jones), so matching both is one match; only the phone's digits are drawn
    apart from the rest; a customer number alone, or an ID number, only locates."""
    from forensics.attribute import CONFIRM_CHANCE, FIELD_CHANCE, canary_evidence

    assert canary_evidence({"email", "name"})[0] == "located"
    assert canary_evidence({"idno"})[0] == "located"
    assert canary_evidence({"custno"})[0] == "located"
    assert canary_evidence({"custno", "name"}) == ("confirmed", CONFIRM_CHANCE)
    assert canary_evidence({"phone"}) == ("phone", FIELD_CHANCE["phone"])
    assert canary_evidence({"phone", "name", "email", "custno"}) == ("phone+person",
                                                                      FIELD_CHANCE["phone"] * CONFIRM_CHANCE)
    assert canary_evidence({"idno", "name"}) == ("idno+person", FIELD_CHANCE["idno"] * CONFIRM_CHANCE)
    assert canary_evidence({"idno", "email", "custno"}) == ("idno+person", FIELD_CHANCE["idno"] * CONFIRM_CHANCE)
    assert canary_evidence({"idno", "custno"}) == ("confirmed", CONFIRM_CHANCE)


def test_each_route_is_weighed_at_its_own_chance():
    """The Poisson for canaries found on their phones is not taken at the
    chance of the rarest route they happened to match by: each route has its
    own count and expectation, and the smallest p is multiplied by the four
    tests any leak could have made count."""
    from forensics.attribute import canary_log_p
    from forensics import stats

    _, phone = canary_log_p({"phone": 2}, rows=1000, planted=50, located=0)
    assert phone == pytest.approx(stats.log_poisson_sf(2, 1000 * 50 * 1e-8) + math.log(4))
    _, none = canary_log_p({"located": 5}, rows=1000, planted=50, located=5)
    assert none == 0.0


def test_a_directory_holding_canaries_addresses_accuses_nobody(tmp_path):
    """Staff with Latin-script names and addresses first.last@acme-corp.com: a
    canary keeps its donor's given name and takes its mate's family name, and
    its address follows (a review found a company directory holding 10 of 37
    canaries' addresses, each with the canary's name, accusing the recipient
    at 1e-7). Here the other staff include every canary's twin."""
    import duckdb

    rng = np.random.default_rng(3)
    given = ["James", "John", "Mary", "Linda", "Jason", "Michelle", "Kevin", "Grace", "Daniel", "Alice"]
    family = ["Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua"]
    names = [f"{rng.choice(given)} {rng.choice(family)}" for _ in range(3000)]
    seen: dict[str, int] = {}
    emails = []
    for n in names:
        base = n.lower().replace(" ", ".")
        seen[base] = seen.get(base, 0) + 1
        emails.append(f"{base}{'' if seen[base] == 1 else seen[base]}@acme-corp.com")
    staff = pa.table({"姓名": names, "邮箱": emails, "部门": [f"D{int(x)}" for x in rng.integers(1, 40, 3000)],
                      "月日均存款": [f"{x:.2f}" for x in rng.uniform(1000, 90000, 3000)]})
    home = tmp_path / "home"
    init(home)
    write_csv(staff.slice(0, 1500), tmp_path / "payroll.csv")
    for who in ("A", "B"):
        export(ExportRequest(str(tmp_path / "payroll.csv"), who, "insurance", str(tmp_path / f"{who}.csv")), home=home)
    con = duckdb.connect(str(Home.at(home).store_path), read_only=True)
    twins = [json.loads(r[0]) for r in con.execute("SELECT row_json FROM canaries WHERE shared_id IS NULL").fetchall()]
    con.close()
    assert twins
    header = ["姓名", "邮箱", "部门"]
    rows = [[n, e, d] for n, e, d in zip(names[1500:], emails[1500:], staff.column("部门").to_pylist()[1500:])]
    rows += [[t["姓名"], t["邮箱"], "D7"] for t in twins]  # real people who hold a canary's name and address
    v = attribute(str(leaks.write(tmp_path / "directory.csv", (header, rows))), home=home)
    assert not v.accused, [(c.recipient, c.p_value) for c in v.candidates]
    assert v.verdict == "unrelated", v.summary
