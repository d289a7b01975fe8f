"""A recipient's copy can come back into the bank's data (a call centre
returns its list with updated phone numbers, and the file is merged into
next month's source) without the export of that source recognising it: a
few hundred returned rows among tens of thousands are too few for the copy
check's sample. A later export of that source then carries the earlier
recipient's marks in every cell it did not mark itself, and a leak of the
later copy must not accuse the earlier recipient. The earlier export is
kept accused only on cells no later copy could carry (rows or columns the
later export never had, cells the later export marked itself)."""

from __future__ import annotations

import numpy as np
import pytest

from forensics import markread, markwrite
from forensics.markevidence import _surely_moved
from forensics.markplan import MarkColumn
from tracer import ExportRequest, attribute, export


def _lines(path):
    return path.read_text(encoding="utf-8-sig").splitlines(True)


def _cell_edit(at: int, change):
    """A line editor: cell ``at`` replaced by ``change(cell)``."""
    def edit(line: str) -> str:
        cells = line.rstrip("\r\n").split(",")
        cells[at] = change(cells[at])
        return ",".join(cells) + "\n"
    return edit


def _narrow(header: list[str], names: tuple[str, ...]):
    """A line editor keeping only the columns ``names``, in that order."""
    keep = [header.index(c) for c in names]

    def narrow(line: str) -> str:
        cells = line.lstrip("\ufeff").rstrip("\r\n").split(",")
        return ",".join(cells[i] for i in keep) + "\n"
    return narrow


def _month2(src, a_csv, n: int, out, edit=lambda line: line) -> tuple[list[str], dict[int, str]]:
    """Month 2: month 1 (``src``) with ``n`` of A's rows (customers only) as
    A's file has them, passed through ``edit``: (month 1's lines, {line
    number: the line put back})."""
    month1 = _lines(src)
    at = {line.split(",")[0]: i for i, line in enumerate(month1)}
    back = {}
    for line in _lines(a_csv)[1:]:
        if line.split(",")[0] in at and len(back) < n:
            back[at[line.split(",")[0]]] = edit(line)
    out.write_text("".join(back.get(i, line) for i, line in enumerate(month1)), encoding="utf-8")
    return month1, back


@pytest.fixture(scope="module")
def returned(new_world):
    """A's copy of month 1; month 2's source (another file) holds 150 of A's
    rows as A's file has them; B gets month 2."""
    d, home, src = new_world("returned", 20000, 5)
    export(ExportRequest(str(src), "A", "outreach", str(d / "A.csv")), home=home)
    month1, back = _month2(src, d / "A.csv", 150, d / "month2.csv")
    b = export(ExportRequest(str(d / "month2.csv"), "B", "review", str(d / "B.csv")), home=home)
    assert not any("copy of an earlier export" in n for n in b.notes)  # too diluted for the copy check
    returned_keys = {line.split(",")[0] for i, line in back.items() if line != month1[i]}  # A marked a cell
    return d, home, returned_keys


def test_a_leak_of_the_later_copy_accuses_only_its_recipient(returned, tmp_path):
    d, home, keys = returned
    b_lines = _lines(d / "B.csv")
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(b_lines[:1] + [line for line in b_lines[1:] if line.split(",")[0] in keys]),
                    encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert [c.recipient for c in verdict.accused] == ["B"]
    a = next(c for c in verdict.candidates if c.recipient == "A")
    assert a.marks_agree > 0.5 * a.marks_readable  # its marks are there (the later copy carried them) ...
    assert a.later_sources == [verdict.accused[0].export_id] and a.explained_by == a.later_sources
    assert "a later export made from another source can explain them" in a.excluded
    readable = sum(m.readable for m in a.own_marks)
    assert readable >= 20  # ... but in the cells B marked itself only by chance
    assert a.to_dict()["evidence"]["later_sources"]["readable"] == readable


def test_a_few_rows_of_the_later_copy_never_accuse_the_earlier_recipient(returned, tmp_path):
    """Six or eight rows carry too few of B's marks to accuse B: B still
    counts as a possible carrier of A's marks (its readable cells agree),
    so A is not accused on marks B's copy brought. When only an accused
    later export counted, 6 of 40 such 8-row leaks accused A (and 3 of 40
    6-row ones): 30 leaks would all have passed that rule with chance ~1%."""
    import random

    d, home, keys = returned
    rows = [line for line in _lines(d / "B.csv")[1:] if line.split(",")[0] in keys]
    rng = random.Random(3)
    leak = tmp_path / "leak.csv"
    for n in [8] * 20 + [6] * 10:
        leak.write_text(_lines(d / "B.csv")[0] + "".join(rng.sample(rows, n)), encoding="utf-8")
        assert "A" not in [c.recipient for c in attribute(leak, home=home).accused]


def test_a_small_leak_of_the_earlier_copy_keeps_its_power(returned, tmp_path):
    """B's copy of month 2 holds A's customers too, but a leak of A's own
    rows shows B's marks only by chance: B is no carrier, and 40 of A's
    rows accuse A as they would without B (20 rows did in 8 of 8 trials
    with B no carrier, 6 of 8 when every later export counted)."""
    import random

    d, home, keys = returned
    a_lines = _lines(d / "A.csv")
    rng = random.Random(4)
    leak = tmp_path / "leak.csv"
    for _ in range(4):
        leak.write_text(a_lines[0] + "".join(rng.sample(a_lines[1:], 40)), encoding="utf-8")
        assert [c.recipient for c in attribute(leak, home=home).accused] == ["A"]


def test_a_leak_of_the_earlier_copy_still_accuses_its_recipient(returned, tmp_path):
    d, home, keys = returned
    a_lines = _lines(d / "A.csv")
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(a_lines[:301]), encoding="utf-8")
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["A"]


def test_rows_of_both_copies_accuse_both(returned, tmp_path):
    """A's own rows merged with B's: in the cells B marked itself A's rows
    carry A's marks, far beyond chance, so A stays accused."""
    d, home, keys = returned
    a_lines, b_lines = _lines(d / "A.csv"), _lines(d / "B.csv")
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(a_lines[:1] + a_lines[1000:1300] + b_lines[5000:5300]), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert sorted(c.recipient for c in verdict.accused) == ["A", "B"]
    for c in verdict.accused:  # each named with its own export and probability, not the first one's
        assert f"{c.recipient}: export {c.export_id} (" in verdict.summary
    a = next(c for c in verdict.accused if c.recipient == "A")
    assert a.later_sources and sum(m.agree for m in a.own_marks) > 0.5 * sum(m.readable for m in a.own_marks)


def test_a_column_the_later_export_never_received_is_the_earlier_ones_own(new_world, tmp_path):
    """B got month 2 without opening dates; the leaker joined A's dates onto
    B's rows. The dates cannot have come through B: A stays accused on them."""
    d, home, src = new_world("joined", 3000, 6)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    month1 = _lines(src)
    (d / "month2.csv").write_text("".join(month1[:1] + month1[1::2]), encoding="utf-8")
    header = month1[0].strip().split(",")
    export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv"),
                         columns=[c for c in header if c != "开户日期"]), home=home)
    at = header.index("开户日期")
    opened = {line.split(",")[0]: line.rstrip("\n").split(",")[at] for line in _lines(d / "A.csv")[1:]}
    b_lines = _lines(d / "B.csv")
    joined = [b_lines[0].rstrip("\n") + ",开户日期\n"] + [
        line.rstrip("\n") + "," + opened[line.split(",")[0]] + "\n" for line in b_lines[1:401]
        if line.split(",")[0] in opened]
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(joined), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert sorted(c.recipient for c in verdict.accused) == ["A", "B"]
    for c in verdict.accused:  # each named with its own export and probability, not the first one's
        assert f"{c.recipient}: export {c.export_id} (" in verdict.summary
    a = next(c for c in verdict.accused if c.recipient == "A")
    dates = [m for m in a.own_marks if m.leak_column == "开户日期"]
    assert dates and dates[0].agree == dates[0].readable > 100


COLUMNS = [
    MarkColumn("amount", "amount", 0, 100, 2, 2000, "fine", 0.0, 1.0),
    MarkColumn("amount", "amount", 0, 10, 2, 100000, "coarse", 0.0, 1.0),
    MarkColumn("opened", "date", 1, 4, 0, 0, "fine", 0.0, 1.0, 20000),
]


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: f"{c.kind}-{c.channel}")
def test_a_cell_the_later_export_marked_lands_on_the_earlier_point_with_chance_one_in_q(col):
    """The derivation own_marks rests on, simulated: values A marked, then
    marked again by B with its own keyed offsets, read under A's plan: the
    share on A's point is 1/q (binomial, 5 sigma), whatever A's marks did."""
    rng = np.random.default_rng(7)
    n = 200_000
    if col.kind == "amount":
        u = rng.integers(200_000, 10 ** 9, n)
    else:
        u = rng.integers(5_000, 19_000, n)
    valid = np.ones(n, bool)

    def mark(values):
        dither, bit, up = rng.integers(0, col.q, n), rng.integers(0, 2, n), rng.integers(0, 2, n)
        return markwrite.embed(values, dither, bit, up, col), dither, bit

    by_a, a_dither, a_bit = mark(u)
    by_b, _, _ = mark(by_a)
    assert markwrite.eligible(u, valid, col).all() and markwrite.eligible(by_a, valid, col).all()
    assert _surely_moved(by_b, valid, col).mean() > 0.99
    agree = markread.read(by_b, a_dither, col) == a_bit
    expected = n / col.q
    assert abs(agree.sum() - expected) < 5 * np.sqrt(expected * (1 - 1 / col.q))
    assert (markread.read(by_a, a_dither, col) == a_bit).all()  # before B's mark: every cell on A's point


def test_only_values_a_mark_must_have_moved_are_counted():
    col = MarkColumn("amount", "amount", 0, 100, 2, 2000, "fine", 0.0, 1.0)
    u = np.array([0, 2099, 2100, 2200, 2201, -2201, 10 ** 8])
    got = _surely_moved(u, np.ones(len(u), bool), col)
    # eligible for embedding: |value| >= 2,000 + 100; moved by at most 100
    assert got.tolist() == [False, False, False, True, True, True, True]
    date = MarkColumn("opened", "date", 1, 4, 0, 0, "fine", 0.0, 1.0, 20000)
    days = np.array([20000, 19996, 19995, 10000])
    assert _surely_moved(days, np.ones(4, bool), date).tolist() == [False, True, True, True]
    # A round value (whole hundreds of yuan) is never marked: a value within a mark's reach of one may be it.
    col = MarkColumn("amount", "amount", 0, 100, 2, 2000, "fine", 0.0, 1.0, round_units=10_000)
    u = np.array([50_000_000, 50_000_100, 50_000_101, 49_999_900, 49_999_899, 50_005_000])
    assert _surely_moved(u, np.ones(len(u), bool), col).tolist() == [False, False, True, False, True, True]


def test_canaries_a_later_copy_never_received_are_the_earlier_recipients_own(new_world, tmp_path):
    """Month 2 holds 1,500 of A's rows as A's file has them (customers only):
    recognised by A's marks, B's export is recorded as made from A's copy,
    and records that none of A's canaries were among its rows. A leak of A's
    canaries with real customers, names and phones only (no marks), then
    accuses A: B's copy could not have held those canaries. B's own rows,
    names and phones only, accuse nobody."""
    import json

    import duckdb

    d, home, src = new_world("parent", 5000, 8)
    a = export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    month1, _ = _month2(src, d / "A.csv", 1500, d / "month2.csv")
    b = export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv")), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    b_params = json.loads(con.execute("SELECT params FROM exports WHERE export_id = ?", [b.export_id]).fetchone()[0])
    canaries = {json.loads(r[0])["身份证号"] for r in con.execute(
        "SELECT row_json FROM canaries c JOIN exports e USING (export_no) WHERE e.export_id = ? "
        "AND c.shared_id IS NULL", [a.export_id]).fetchall()}
    con.close()
    assert b_params["derived_from"] == [a.export_id] and b_params["carried_canaries"] == {}
    customers = {line.split(",")[3] for line in month1[1:]}

    def name_phone(lines):
        return "姓名,手机号\n" + "".join(",".join(line.split(",")[i] for i in (1, 4)) + "\n" for line in lines)

    a_lines = _lines(d / "A.csv")[1:]
    planted = [line for line in a_lines if line.split(",")[3] in canaries][:3]
    real = [line for line in a_lines if line.split(",")[3] in customers][:50]
    leak = tmp_path / "leak.csv"
    leak.write_text(name_phone(planted + real), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert [c.recipient for c in verdict.accused] == ["A"]
    assert verdict.accused[0].own_canaries == 3 and verdict.accused[0].later_sources == [b.export_id]
    leak.write_text(name_phone([line for line in _lines(d / "B.csv")[1:]
                                if line.split(",")[3] in customers][:100]), encoding="utf-8")
    assert not attribute(leak, home=home).accused


def test_a_copy_made_from_the_earlier_copy_counts_even_when_excluded_as_sole_origin(new_world, tmp_path):
    """B made from A's file (recorded). A leak of 8 of B's rows plus 2 raw
    source rows B never held: B 'held only 8 of the 10 rows', which says B's
    copy is not all of the leak, not that it is absent; B still carries A's
    marks, so A is never accused on them (a review found 4 such leaks in 40
    accusing A when B dropped out)."""
    import random

    d, home, src = new_world("heldonly", 4000, 9)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv"), where='"月日均存款" >= 10000'), home=home)
    export(ExportRequest(str(d / "A.csv"), "B", "p", str(d / "B.csv")), home=home)
    in_a = {line.split(",")[0] for line in _lines(d / "A.csv")[1:]}
    raw = [line for line in _lines(src)[1:] if line.split(",")[0] not in in_a]
    b_lines = _lines(d / "B.csv")
    rng = random.Random(1)
    leak = tmp_path / "leak.csv"
    for _ in range(40):
        leak.write_text(b_lines[0] + "".join(rng.sample(b_lines[1:], 8) + rng.sample(raw, 2)), encoding="utf-8")
        assert "A" not in [c.recipient for c in attribute(leak, home=home).accused]


def test_returned_rows_in_a_form_the_later_export_cannot_mark_stay_carried(new_world, tmp_path):
    """A's returned rows came back with dates as a spreadsheet writes them
    (2020/1/5): B's embedding does not parse that form and leaves the
    value, still on A's point, though a leak reader parses it. Such cells
    are not A's own: a leak of B's copy of those rows does not accuse A
    (it did at 6.5e-15 before)."""
    d, home, src = new_world("excel", 20000, 21)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    header = _lines(src)[0].lstrip("\ufeff").rstrip("\r\n").split(",")
    opened = header.index("开户日期")
    as_a_spreadsheet_writes = _cell_edit(opened, lambda v: "{}/{}/{}".format(*map(int, v.split("-"))))
    month1, back = _month2(src, d / "A.csv", 150, d / "month2.csv", as_a_spreadsheet_writes)
    b = export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv")), home=home)
    keys = {month1[i].split(",")[0] for i in back}
    b_lines = _lines(d / "B.csv")
    leak = tmp_path / "leak.csv"
    leak.write_text(b_lines[0] + "".join(line for line in b_lines[1:] if line.split(",")[0] in keys),
                    encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert [c.recipient for c in verdict.accused] == ["B"]
    # The leaker tidies the dates back into B's own form after B's export: the
    # cells now parse as B's embedding would have, but B never marked them
    # (A was accused at 1.8e-11 before B recorded the cells it could not parse).
    import json

    import duckdb
    con = duckdb.connect(str(home.store_path), read_only=True)
    params = json.loads(con.execute("SELECT params FROM exports WHERE export_id = ?", [b.export_id]).fetchone()[0])
    con.close()
    left = [u for m, u in zip(params["mark_columns"], params["unmarked"]) if m["name"] == "开户日期"]
    assert left and 0 < len(left[0]) < len(back)  # the returned rows' dates its date channel selected
    tidied = _cell_edit(opened, lambda v: "{}-{:02d}-{:02d}".format(*map(int, v.split("/"))) if "/" in v else v)
    leak.write_text(b_lines[0] + "".join(tidied(line) for line in b_lines[1:] if line.split(",")[0] in keys),
                    encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert [c.recipient for c in verdict.accused] == ["B"]
    # Without the amounts B marked, B's readable cells in these rows are the dates it
    # left unmarked: they agree by chance, which read as "B's fingerprint is absent"
    # and accused A at 1.4e-37 (a review's script). Those cells are not read for B.
    narrow = _narrow(header, ("客户号", "姓名", "身份证号", "手机号", "开户日期"))
    for edit in (lambda line: line, tidied):
        leak.write_text(narrow(b_lines[0]) + "".join(narrow(edit(line)) for line in b_lines[1:]
                                                     if line.split(",")[0] in keys), encoding="utf-8")
        verdict = attribute(leak, home=home)
        assert "A" not in [c.recipient for c in verdict.accused]


def test_a_customer_the_later_export_keyed_another_way_is_held_by_it(new_world, tmp_path):
    """A's returned rows came back with ID numbers a spreadsheet stored as
    numbers (2.20106196608078E+17): month 2 keys those customers by customer
    number, while a leak of B's copy without that column links its (recovered)
    ID numbers to month 1's keys only, so B looked as if it never held the
    rows and A was accused at 1.8e-16. A later export holding a leak row's
    customer under another row key (one sharing an identifier) counts as
    holding the row."""
    d, home, src = new_world("sci-ids", 20000, 21)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    header = _lines(src)[0].lstrip("\ufeff").rstrip("\r\n").split(",")
    as_a_number = _cell_edit(header.index("身份证号"), lambda v: f"{int(v[:17] + v[17].replace('X', '0')):.14E}")
    month1, back = _month2(src, d / "A.csv", 150, d / "month2.csv", as_a_number)
    export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv")), home=home)
    keys = {month1[i].split(",")[0] for i in back}
    narrow = _narrow(header, ("姓名", "身份证号", "月日均存款", "开户日期"))
    b_lines = _lines(d / "B.csv")
    leak = tmp_path / "leak.csv"
    leak.write_text(narrow(b_lines[0]) + "".join(narrow(line) for line in b_lines[1:]
                                                 if line.split(",")[0] in keys), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert "A" not in [c.recipient for c in verdict.accused]
    a = next(c for c in verdict.candidates if c.recipient == "A")
    assert a.later_sources and sum(m.readable for m in a.own_marks) == 0  # every row may be B's
    # A leak of A's own rows elsewhere in the list keeps its power.
    elsewhere = {line.split(",")[0] for line in month1} - keys
    others = [line for line in _lines(d / "A.csv")[1:] if line.split(",")[0] in elsewhere][:150]
    leak.write_text(narrow(b_lines[0]) + "".join(narrow(line) for line in others), encoding="utf-8")
    assert [c.recipient for c in attribute(leak, home=home).accused] == ["A"]


def test_agreements_count_only_well_inside_the_range_a_later_mark_may_move():
    """Near a channel's edge (the export-day cap on dates) which cells pass
    "must have moved" depends on where the later mark put the value; only
    agreements three spans inside count."""
    date = MarkColumn("opened", "date", 1, 4, 0, 0, "fine", 0.0, 1.0, 20000)
    days = np.array([19996, 19988, 19987])
    valid = np.ones(3, bool)
    assert _surely_moved(days, valid, date).tolist() == [True, True, True]
    assert _surely_moved(days, valid, date, spans=3).tolist() == [False, True, True]


@pytest.mark.parametrize("amounts", [(200, 2), (6, 0)], ids=["many", "few"])
def test_a_channel_without_a_record_still_shows_a_copy_present(amounts):
    """B's date channel recorded no list of unmarked cells (too many), its
    amounts did; the leaker noised the amounts. Every date agrees with B, so
    B's copy is there: B is no 'absent' fingerprint and may carry A's marks
    (a review found the amounts alone made B absent, and so no carrier)."""
    import numpy as np

    from forensics import attribute as attribution
    from forensics import stats
    from forensics.evidence import Candidate, MarkColumnEvidence

    def channel(name, kind, q, readable, agree, recorded):
        m = MarkColumnEvidence(name, name, kind, q, readable, agree, 0, shows_absence=recorded)
        m.log_p = float(stats.log_binom_sf_many(np.array([agree]), np.array([readable]), 1.0 / q)[0])
        return m

    job = object.__new__(attribution._Attribution)
    b = Candidate(2, "ex-b", "B", "2026-01-01", held_rows=100, linked_rows=100)
    b.marks = [channel("amt", "amount", 100, *amounts, recorded=True), channel("date", "date", 7, 60, 60, recorded=False)]
    b.marks_log_p = stats.fisher([m.log_p for m in b.marks])
    assert not job._fingerprint_absent(b) and job._may_carry(b)
    b.marks[1] = channel("date", "date", 7, 60, 9, recorded=False)  # the dates at chance too: no sign of it
    b.marks_log_p = stats.fisher([m.log_p for m in b.marks])
    assert job._fingerprint_absent(b) == (amounts[0] >= 20)


@pytest.fixture(scope="module")
def source_of_copy(new_world):
    """Month 2 holds 1,500 of A's rows as A's file has them (customers only,
    so none of A's canaries): B's export of it records it as A's copy. The
    bank's month 2 file is then one of its own sources carrying A's marks."""
    d, home, src = new_world("source_of_copy", 5000, 8)
    a = export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    month1, back = _month2(src, d / "A.csv", 1500, d / "month2.csv")
    b = export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv"), columns=["客户号", "姓名", "手机号"]),
               home=home)
    return d, home, a, b, month1, back


def test_raw_rows_of_a_source_holding_a_copy_accuse_nobody(source_of_copy, tmp_path):
    """An insider's copy of month 2 (never exported as such) carries A's
    marks on every returned row: A held those rows too, but so does the
    bank's own month 2, recorded as holding A's copy, so A's marks there
    prove nothing against A (a review found A accused at 1e-78 to 1e-90).
    Its canaries, which month 2 lacks, would have; none are in the leak."""
    d, home, a, b, month1, back = source_of_copy
    leak = tmp_path / "leak.csv"
    leak.write_text(month1[0] + "".join(back[i] for i in sorted(back)[:300]), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert not verdict.accused and verdict.verdict == "ambiguous"
    cand = next(c for c in verdict.candidates if c.recipient == "A")
    assert cand.marks_agree > 0.5 * cand.marks_readable  # its marks are there ...
    assert cand.copy_sources and "month2.csv" in cand.copy_sources[0]  # ... and so is a source that carries them
    assert sum(m.readable for m in cand.own_marks) == 0  # month 2 holds every leak row
    assert cand.to_dict()["evidence"]["later_sources"]["sources"] == cand.copy_sources


def test_a_leak_of_the_copy_itself_is_still_its_recipients(source_of_copy, tmp_path):
    """A's own file leaks: month 2 holds every customer in it (which of its
    rows came from A's file is not recorded), so no mark counts, but A's
    canaries, which month 2 lacks, still accuse A."""
    d, home, a, b, month1, back = source_of_copy
    leak = tmp_path / "leak.csv"
    leak.write_text("".join(_lines(d / "A.csv")), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert [c.recipient for c in verdict.accused] == ["A"]
    accused = verdict.accused[0]
    assert accused.copy_sources and accused.own_canaries > 0
    assert sum(m.readable for m in accused.own_marks) == 0
    assert accused.p_value <= verdict.alpha


def test_a_bank_list_that_took_some_returned_rows_is_no_recipients_file(new_world, tmp_path):
    """The bank numbers customers densely and sends A its high-balance
    extract: A's canaries take numbers in the extract's gaps, which are other
    customers' numbers. A returns 1,500 updated customers (no canary), merged
    into the full month 2; B's export of it records A's copy. A review found:
    the number matches were recorded as canaries month 2 carried, so month 2
    counted as A's file and an insider's raw rows of it accused A (1e-298);
    and the real customers holding those numbers were left out of the
    store, so `lineage customer` said no export included them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tracer.lineage import customer_exports
    from tracer.synthdata import make_customers, write_csv

    d, home, _ = new_world("dense_numbers", 10, 1)
    t = make_customers(6000, seed=8)
    t = t.set_column(0, "客户号", pa.array([str(600000000001 + i) for i in range(t.num_rows)]))
    write_csv(t, d / "bank.csv")
    write_csv(t.filter(pc.greater_equal(pc.cast(t.column("月日均存款"), pa.float64()), 50000)), d / "high.csv")
    export(ExportRequest(str(d / "high.csv"), "A", "p", str(d / "A.csv")), home=home)
    month1 = _lines(d / "bank.csv")
    at = {line.split(",")[0]: i for i, line in enumerate(month1)}
    back = {}
    for line in _lines(d / "A.csv")[1:]:
        if line.split(",")[0] in at and line.split(",")[3] == month1[at[line.split(",")[0]]].split(",")[3]:
            back.setdefault(at[line.split(",")[0]], line)  # a customer A held (a canary's ID is no one's)
        if len(back) == 1500:
            break
    (d / "month2.csv").write_text("".join(back.get(i, line) for i, line in enumerate(month1)), encoding="utf-8")
    b = export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv"), columns=["客户号", "姓名", "手机号"]),
               home=home)
    leak = tmp_path / "leak.csv"
    leak.write_text(month1[0] + "".join(back[i] for i in sorted(back)[:300]), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert not verdict.accused and verdict.verdict == "ambiguous"
    assert next(c for c in verdict.candidates if c.recipient == "A").copy_sources
    # Every customer B received is on record, those holding a canary's number too.
    for line in _lines(d / "B.csv")[1:40]:
        custno = line.split(",")[0]
        if custno in at:
            idno = month1[at[custno]].split(",")[3]
            assert b.export_id in {e["export_id"] for e in customer_exports(idno, home=home)["exports"]}


def test_a_canary_row_merged_into_the_bank_list_does_not_make_it_the_recipients_file(new_world, tmp_path):
    """The bank took A's returned rows as they came, a canary among them (it
    cannot tell): month 2 then holds A's canary, but it is still the bank's
    data, and an insider's raw rows of it must not accuse A (1e-318 before)."""
    d, home, src = new_world("merged_canary", 5000, 8)
    export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    month1 = _lines(src)
    ids = {line.split(",")[3] for line in month1}
    canary = next(line for line in _lines(d / "A.csv")[1:] if line.split(",")[3] not in ids)
    _, back = _month2(src, d / "A.csv", 1500, d / "month2.csv")
    (d / "month2.csv").write_text("".join(back.get(i, line) for i, line in enumerate(month1)) + canary,
                                  encoding="utf-8")
    export(ExportRequest(str(d / "month2.csv"), "B", "p", str(d / "B.csv"), columns=["客户号", "姓名", "手机号"]),
           home=home)
    leak = tmp_path / "leak.csv"
    leak.write_text(month1[0] + "".join(back[i] for i in sorted(back)[:300]), encoding="utf-8")
    verdict = attribute(leak, home=home)
    assert not verdict.accused and verdict.verdict == "ambiguous"
