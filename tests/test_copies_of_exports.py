"""An export made from another export's copy (a data warehouse re-exporting
what it received) carries the earlier copy's fingerprints. A leak of the
later copy must not accuse the earlier recipient: the chain is recognised at
export time (the file's bytes, or the earlier export's canaries among the
rows) and attribution explains the earlier fingerprints by the later copy."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from forensics import stats
from forensics.attribute import _Attribution, _Export
from forensics.evidence import CanaryHit, Candidate
from tracer import ExportRequest, Home, attribute, export, list_exports


@pytest.fixture(scope="module")
def chain(new_world):
    d, home, src = new_world("chain", 1500, 21)
    dw = export(ExportRequest(str(src), "Data warehouse", "analytics", str(d / "dw.csv")), home=home)
    vx = export(ExportRequest(str(src), "Vendor X", "outreach", str(d / "x.csv")), home=home)
    cc = export(ExportRequest(str(d / "dw.csv"), "Call centre", "outreach", str(d / "cc.csv")), home=home)
    # The warehouse's copy, turned into Parquet and cut to 1,200 of its ~1,508 rows: only its canaries
    # say what it is (at least one of its ~8 is among them but with probability ~3e-6).
    names = pacsv.read_csv(d / "dw.csv").column_names
    table = pacsv.read_csv(d / "dw.csv", convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}))
    pq.write_table(table.slice(0, 1200), d / "dw_part.parquet")
    br = export(ExportRequest(str(d / "dw_part.parquet"), "Branch", "review", str(d / "br.csv")), home=home)
    return SimpleNamespace(d=d, home=home, dw=dw, vx=vx, cc=cc, br=br)


def params(home: Home, export_id: str) -> dict:
    con = duckdb.connect(str(home.store_path), read_only=True)
    try:
        return json.loads(con.execute("SELECT params FROM exports WHERE export_id = ?", [export_id]).fetchone()[0])
    finally:
        con.close()


def test_a_copy_of_an_export_is_recognised_and_recorded(chain):
    assert not any("copy of an earlier export" in n for n in chain.dw.notes)
    assert "derived_from" not in params(chain.home, chain.dw.export_id)
    for later, why in ((chain.cc, "(its file)"), (chain.br, "of its canaries among the rows")):
        note = next(n for n in later.notes if "copy of an earlier export" in n)
        assert chain.dw.export_id in note and "Data warehouse" in note and why in note
        assert chain.vx.export_id not in note  # a sibling export of the same source is no parent
        assert params(chain.home, later.export_id)["derived_from"] == [chain.dw.export_id]


@pytest.mark.parametrize("leaked, origin", [("cc.csv", "Call centre"), ("br.csv", "Branch")])
def test_a_leak_of_the_later_copy_accuses_only_its_recipient(chain, leaked, origin):
    v = attribute(chain.d / leaked, home=chain.home)
    assert v.verdict == "accused" and [c.recipient for c in v.accused] == [origin]
    dw = next(c for c in v.candidates if c.recipient == "Data warehouse")
    assert not dw.accused and "were made from its copy" in dw.excluded
    assert dw.explained_by == [v.accused[0].export_id]
    assert dw.log_p < -50  # its fingerprints are there, and the verdict says why they do not count


def test_a_leak_of_the_earlier_copy_still_accuses_its_recipient(chain):
    v = attribute(chain.d / "dw.csv", home=chain.home)
    assert [c.recipient for c in v.accused] == ["Data warehouse"]
    later = [c for c in v.candidates if c.recipient in ("Call centre", "Branch")]
    assert later and all(not c.accused and "fingerprint is absent" in c.excluded for c in later)
    for c in later:  # the reason gives what chance alone puts on its points, so a reader can weigh it
        read = c.absence_marks
        agree, readable = sum(m.agree for m in read), sum(m.readable for m in read)
        assert f"{agree} of {readable} readable" in c.excluded
        assert f"({sum(m.readable / m.q for m in read):.0f} expected)" in c.excluded
        assert agree < readable / 2  # its own copy would carry most: it does not


def _job(exports: dict) -> SimpleNamespace:
    """An attribution's state as _explain_by_later_copies reads it (no marks read)."""
    job = SimpleNamespace(exports=exports, alpha=1e-6, _rows_by_source={},
                          _export_no_by_id={e.export_id: n for n, e in exports.items()})
    for name in ("_ancestors", "_may_carry", "_fingerprint_absent", "_carried_canaries", "_copy_sources", "_canary_present",
                 "_source_rows"):
        setattr(job, name, getattr(_Attribution, name).__get__(job))
    return job


def _candidate(no: int, name: str, *, accused: bool, excluded: str | None = None) -> Candidate:
    c = Candidate(no, f"ex-{no}", name, "2026-01-01")
    c.accused, c.excluded, c.log_p = accused, excluded, -100.0 if accused else -1.0
    return c


def test_a_later_copy_that_is_not_excluded_leaves_the_earlier_one_unaccused():
    """Copy 1 (of 0) shows its fingerprints, copy 2 (of 1) is plausible but
    not accused: 0 is excluded (1's copy carried its marks), 1 is not
    accused (2's copy may be the origin), and a later copy whose fingerprint
    is absent (3) explains nothing."""
    exports = {0: _Export(0, "ex-0", "A", "k", {}, [], ""),
               1: _Export(1, "ex-1", "B", "k", {"derived_from": ["ex-0"]}, [], ""),
               2: _Export(2, "ex-2", "C", "k", {"derived_from": ["ex-1"]}, [], ""),
               3: _Export(3, "ex-3", "D", "k", {"derived_from": ["ex-0"]}, [], "")}
    job = _job(exports)
    assert job._ancestors(2) == {0, 1} and job._ancestors(0) == set()
    cands = {0: _candidate(0, "A", accused=True), 1: _candidate(1, "B", accused=True),
             2: _candidate(2, "C", accused=False), 3: _candidate(3, "D", accused=False, excluded="absent")}
    _Attribution._explain_by_later_copies(job, cands)
    assert not any(c.accused for c in cands.values())
    assert "made from its copy" in cands[0].excluded and "export ex-1 to B" in cands[0].excluded  # B's own are there
    assert cands[1].excluded is None  # C's copy may be the origin: ambiguous between B and C
    assert cands[0].explained_by == ["ex-1", "ex-2"] and cands[1].explained_by == ["ex-2"]


def _with_canaries(c: Candidate, planted: int, found: int) -> Candidate:
    c.planted = planted
    c.hits = [CanaryHit(canary_no=i, leak_row=i, fields=["phone"], chance=1e-8) for i in range(found)]
    return c


@pytest.mark.parametrize("found_a, found_b, kept", [(40, 0, True), (40, 14, False), (1500, 1500, False),
                                                    (1500, 600, True)])
def test_an_earlier_export_kept_accused_beside_a_later_copy_carries_the_rules_error(found_a, found_b, kept):
    """Rows of A's own copy are in the leak beside B's (made from A's) only if
    A's canaries are lopsidedly more than B's: then A stays accused, its
    p-value raised by the rules' error (10% of alpha), never below it. Bank-
    sized counts (thousands of canaries each) are exact tails, not overflows."""
    exports = {0: _Export(0, "ex-0", "A", "k", {}, [], ""),
               1: _Export(1, "ex-1", "B", "k", {"derived_from": ["ex-0"]}, [], "")}
    job = _job(exports)
    a = _with_canaries(_candidate(0, "A", accused=True), 1500, found_a)
    b = _with_canaries(_candidate(1, "B", accused=True), 1500, found_b)
    _Attribution._explain_by_later_copies(job, {0: a, 1: b})
    assert a.accused is kept and b.accused
    if kept:
        assert a.copy_rule_error == pytest.approx(1e-7) and a.p_value == pytest.approx(1e-7 + math.exp(-100))
    else:
        assert a.explained_by == ["ex-1"] and a.copy_rule_error == 0.0 and a.log_p == -100.0



@pytest.mark.parametrize("each", [300, 100])
def test_a_merge_of_the_earlier_copy_and_a_later_one_accuses_both(chain, tmp_path, each):
    """Rows of the warehouse's own copy merged with rows of the call centre's
    (made from it): in the cells the call centre marked itself, the
    warehouse's marks are there in its own rows and by chance (1/q) in the
    call centre's, so the later copy does not explain the earlier one away.
    100 rows of each suffice (the aggregate comparison this replaced needed
    hundreds); the warehouse's figure rests on those cells alone, with no
    rule error."""
    dw = (chain.d / "dw.csv").read_text(encoding="utf-8-sig").splitlines(True)
    cc = (chain.d / "cc.csv").read_text(encoding="utf-8-sig").splitlines(True)
    leak = tmp_path / "merged.csv"
    leak.write_text(dw[0] + "".join(dw[1:1 + each]) + "".join(cc[900:900 + each]), encoding="utf-8")
    v = attribute(leak, home=chain.home)
    assert sorted(c.recipient for c in v.accused) == ["Call centre", "Data warehouse"]
    assert not any(c.accused for c in v.candidates if c.recipient in ("Vendor X", "Branch"))
    dw_cand = next(c for c in v.accused if c.recipient == "Data warehouse")
    assert next(c.export_id for c in v.accused if c.recipient == "Call centre") in dw_cand.later_sources
    assert dw_cand.copy_rule_error == 0.0 and sum(m.readable for m in dw_cand.own_marks) > 0
    assert dw_cand.log_p >= stats.bonferroni(stats.fisher([m.log_p for m in dw_cand.own_marks if m.readable]),
                                             v.exports_tested)


@pytest.mark.parametrize("how", ["after a key rotation", "ID numbers mangled by a spreadsheet"])
def test_a_copy_is_recognised_by_any_identifier_under_any_key(new_world, tmp_path, how):
    """A's canaries are found in a copy of A's file even when the key was
    rotated since (keyed again from the canaries as written) or the copy's ID
    numbers lost their last digits (its phones still match)."""
    from tracer import rotate_key

    d, home, src = new_world("copykeys", 1200, 23)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    names = pacsv.read_csv(d / "A.csv").column_names
    copy = pacsv.read_csv(d / "A.csv", convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    if how == "after a key rotation":
        rotate_key(home)
        pq.write_table(copy, d / "copy.parquet")
        source = d / "copy.parquet"
    else:
        ids = copy.column("身份证号").to_pylist()
        copy = copy.set_column(names.index("身份证号"), "身份证号", pa.array([i[:15] + "000" for i in ids]))
        source = d / "copy.csv"
        pacsv.write_csv(copy, source)
    b = export(ExportRequest(str(source), "B", "p", str(d / "B.csv")), home=home)
    assert any("copy of an earlier export" in n and "of its canaries among the rows" in n for n in b.notes)
    leak = tmp_path / "leak.csv"
    leak.write_text("".join((d / "B.csv").read_text(encoding="utf-8-sig").splitlines(True)[:401]), encoding="utf-8")
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["B"]


def test_exporting_a_copy_onward_keeps_the_earlier_copys_canaries_as_evidence(new_world, tmp_path):
    """Registering a copy as a new source used to make the earlier export's
    canaries 'customers' of it: a leak of the earlier copy without marked
    columns then lost its canary evidence and went ambiguous. B's copy could
    explain A's canaries only if B's own turned up in proportion: 25 of A's
    and none of B's is too lopsided (a binomial tail below alpha/20; with 15
    and none the verdict stays ambiguous, never a wrong name). A second export of
    the same copy still knows what it is a copy of."""
    d, home, src = new_world("onward", 5000, 25)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    export(ExportRequest(str(src), "X", "p", str(d / "X.csv")), home=home)
    table = pacsv.read_csv(d / "A.csv", convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in pacsv.read_csv(d / "A.csv").column_names}))
    leak = tmp_path / "leak.csv"
    pacsv.write_csv(table.select(["姓名", "手机号", "身份证号"]), leak)
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["A"]
    pq.write_table(table, d / "A.parquet")  # a converted copy: recognised by its canaries
    export(ExportRequest(str(d / "A.parquet"), "B", "p", str(d / "B.csv")), home=home)
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["A"]
    again = export(ExportRequest(str(d / "A.parquet"), "C", "p", str(d / "C.csv")), home=home)
    assert any("copy of an earlier export" in n for n in again.notes)
    # Both copies carry all of A's canaries, and say so (the second from the first's record)
    carried = [params(home, e["export_id"])["carried_canaries"] for e in list_exports(home=home)[2:]]
    assert carried[0] == carried[1] and len(next(iter(carried[0].values()))) == int(
        params(home, list_exports(home=home)[0]["export_id"])["canaries"])


def test_a_copy_of_an_export_without_identifiers_is_recognised_by_its_bytes(new_world):
    d, home, src = new_world("copynoid", 400, 26)
    first = export(ExportRequest(str(src), "A", "p", str(d / "A.csv"), columns=["姓名", "客户等级", "月日均存款"]),
                   home=home)
    again = export(ExportRequest(str(d / "A.csv"), "B", "p", str(d / "B.csv")), home=home)
    assert any(f"{first.export_id} to A (its file)" in n for n in again.notes)


def test_a_slice_of_a_copy_without_its_canaries_is_recognised_by_its_marks(new_world, tmp_path):
    """A warehouse keeps one province of A's copy, and only the customers it
    knows (so none of A's canaries), unconverted: neither the bytes nor the
    canaries say what it is, A's marks in its rows do. A leak of the
    warehouse's export then accuses the warehouse only. A new version of the
    source of record (rows dropped, a new file) is no copy of anyone's."""
    d, home, src = new_world("slice", 3000, 27)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    export(ExportRequest(str(src), "B", "p", str(d / "B.csv")), home=home)
    source_rows = src.read_text(encoding="utf-8-sig").splitlines(True)
    known = {line.split(",")[3] for line in source_rows[1:]}
    a_rows = (d / "A.csv").read_text(encoding="utf-8-sig").splitlines(True)
    kept = [line for line in a_rows[1:] if line.split(",")[3] in known and line.split(",")[5].startswith("山东")]
    assert len(kept) >= 100
    (d / "A_slice.csv").write_text(a_rows[0] + "".join(kept), encoding="utf-8")
    k = export(ExportRequest(str(d / "A_slice.csv"), "Warehouse", "p", str(d / "K.csv")), home=home)
    a_id = params(home, k.export_id)["derived_from"]
    assert len(a_id) == 1 and any("its marks in" in n and "to A (" in n for n in k.notes)
    leak = tmp_path / "leak.csv"
    leak.write_text("".join((d / "K.csv").read_text(encoding="utf-8-sig").splitlines(True)[:101]), encoding="utf-8")
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["Warehouse"]

    (d / "new_month.csv").write_text("".join(source_rows[:1] + source_rows[1::2]), encoding="utf-8")
    again = export(ExportRequest(str(d / "new_month.csv"), "C", "p", str(d / "C.csv")), home=home)
    assert "derived_from" not in params(home, again.export_id)


def _two_heirs_job(*later: str):
    exports = {0: _Export(0, "ex-0", "A", "k", {}, [], "")}
    exports.update({i + 1: _Export(i + 1, f"ex-{i + 1}", name, "k", {"derived_from": ["ex-0"]}, [], "")
                    for i, name in enumerate(later)})
    return _job(exports)


def test_a_merge_of_two_later_copies_never_keeps_the_earlier_export_accused():
    """B's and C's copies, both made from A's, merged half and half: A's
    canaries are in every row, B's and C's each in half, so A beats each
    alone. With two later copies that could be the origin, A is released."""
    job = _two_heirs_job("B", "C")
    a = _with_canaries(_candidate(0, "A", accused=True), 1500, 40)
    b = _with_canaries(_candidate(1, "B", accused=True), 1500, 12)
    c = _with_canaries(_candidate(2, "C", accused=True), 1500, 11)
    _Attribution._explain_by_later_copies(job, {0: a, 1: b, 2: c})
    assert not a.accused and a.explained_by == ["ex-1", "ex-2"] and b.accused and c.accused


def test_a_real_customer_sharing_a_canarys_id_number_does_not_make_a_copy(new_world):
    """ID numbers are region, birthdate and three digits: a new customer can
    hold a canary's. One identifier of one canary is chance; a copy of the
    canary's row matches on all its identifiers at once, and many of them."""
    d, home, src = new_world("idclash", 2000, 29)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    canary = json.loads(con.execute("SELECT row_json FROM canaries WHERE shared_id IS NULL LIMIT 1").fetchone()[0])
    con.close()
    lines = src.read_text(encoding="utf-8-sig").splitlines(True)
    newcomer = lines[1].split(",")
    newcomer[0], newcomer[3] = "699999999999", canary["身份证号"]  # another customer number, the canary's ID
    (d / "month2.csv").write_text("".join(lines) + ",".join(newcomer), encoding="utf-8")
    n = export(ExportRequest(str(d / "month2.csv"), "N", "p", str(d / "N.csv")), home=home)
    assert "derived_from" not in params(home, n.export_id)
    assert not any("copy of an earlier export" in note for note in n.notes)
