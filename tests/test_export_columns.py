"""Which columns an export changes: contractual dates never."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pytest

from tracer import ExportRequest, Home, export, init
from tracer.synthdata import make_customers, write_csv


@pytest.mark.parametrize("header", ["证件有效期", "有效期至", "证件截至日期", "贷款到期日", "maturity_date", "valid_until",
                                    "Expiration Date", "ID_EXP_DT"])
def test_contractual_dates_are_never_marked(tmp_path, header):
    """A date the recipient acts on to the day (an ID's expiry, a loan's
    maturity) keeps its value; the account-opening date beside it is marked."""
    table = make_customers(600, seed=5)
    opened = table.column("开户日期")
    table = table.append_column(header, opened)
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    notes = {c.name: c.note for c in r.columns}
    assert notes[header] == "contractual date: never marked"
    out = pacsv.read_csv(tmp_path / "o.csv", convert_options=pacsv.ConvertOptions(
        column_types={header: pa.string(), "开户日期": pa.string(), "客户号": pa.string()}))
    real = out.filter(pa.compute.is_in(out.column("客户号"), table.column("客户号")))
    moved = [a != b for a, b in zip(real.column(header).to_pylist(), real.column("开户日期").to_pylist())]
    assert any(moved)  # the same dates, marked in 开户日期 only
    by_id = dict(zip(table.column("客户号").to_pylist(), opened.to_pylist()))
    assert all(by_id[k] == v for k, v in zip(real.column("客户号").to_pylist(), real.column(header).to_pylist()))


@pytest.mark.parametrize("header", ["客户ID", "会员号", "编号X"])
def test_a_record_key_column_gets_new_values_in_canaries(tmp_path, header):
    """A column of distinct codes is a record's key whatever its header says
    (and whatever one stray value's length): canaries must not copy a real
    customer's, which would name the donor and show up as a duplicate key."""
    from forensics.coltypes import type_column

    table = make_customers(800, seed=9)
    keys = [str(10**11 + 7919 * i) for i in range(800)]
    keys[3] = keys[3][:-1]  # one value of another length
    table = table.set_column(0, header, pa.array(keys))
    assert type_column(header, keys).kind.value == "custno"
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    out = pacsv.read_csv(tmp_path / "o.csv", convert_options=pacsv.ConvertOptions(column_types={header: pa.string()}))
    written = out.column(header).to_pylist()
    assert r.canaries > 0 and len(written) == 800 + r.canaries
    assert len(set(written)) == len(written)  # no key twice: every canary's is new
    assert len(set(written) - set(keys)) == r.canaries


@pytest.mark.parametrize("header, marked", [("授信额度(万元)", False), ("余额（单位：千元）", False),
                                            ("credit limit (thousands)", False), ("贷款余额（人民币万元）", False),
                                            ("授信金额(千美元)", False), ("Balance (USD k)", False),
                                            ("金额（单位：百万）", False), ("授信额度(元)", True)])
def test_amounts_in_units_above_the_yuan_are_never_marked(tmp_path, header, marked):
    """A credit limit given in 万元 would move by 10,000 yuan per unit of a mark."""
    table = make_customers(600, seed=6)
    table = table.append_column(header, table.column("月日均存款"))
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv")), home=home)
    col = next(c for c in r.columns if c.name == header)
    if marked:
        assert col.tolerance and col.kind == "amount"
    else:
        assert not col.tolerance and "never marked" in col.note and "units of" in col.note
        out = pacsv.read_csv(tmp_path / "o.csv", convert_options=pacsv.ConvertOptions(
            column_types={header: pa.string(), "客户号": pa.string()}))
        by_id = dict(zip(table.column("客户号").to_pylist(), table.column(header).to_pylist()))
        real = [(k, v) for k, v in zip(out.column("客户号").to_pylist(), out.column(header).to_pylist()) if k in by_id]
        assert len(real) == 600 and all(by_id[k] == v for k, v in real)


def test_an_export_without_identifiers_says_it_cannot_be_attributed(tmp_path):
    """Names, tiers and balances only: nothing links a leak of the copy to a
    customer, so the receipt promises no detection and a leak of it is
    'unlinkable', never 'unrelated' (which would say it is not the bank's)."""
    from tracer import attribute

    src = tmp_path / "c.csv"
    write_csv(make_customers(500, seed=4), src)
    home = Home.at(tmp_path / "home")
    init(home)
    r = export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv"), columns=["姓名", "客户等级", "月日均存款"]),
               home=home)
    assert any(n.startswith("no identifier column is exported") for n in r.notes)
    assert r.code["rows_needed"] is None
    v = attribute(tmp_path / "o.csv", home=home)
    assert v.verdict == "unlinkable" and not v.accused and "cannot be told" in v.summary


def test_canary_counts_are_what_was_asked_and_a_large_share_is_said(tmp_path):
    src = tmp_path / "c.csv"
    write_csv(make_customers(300, seed=14), src)
    home = Home.at(tmp_path / "home")
    init(home)
    exact = export(ExportRequest(str(src), "R", "p", str(tmp_path / "a.csv"), canaries=3, shared_canaries=False),
                   home=home)
    assert exact.canaries == 3 and not any("may notice" in n for n in exact.notes)
    many = export(ExportRequest(str(src), "R", "p", str(tmp_path / "b.csv"), canaries=40), home=home)
    assert many.canaries >= 40 and any("may notice customers they cannot find" in n for n in many.notes)


def test_a_leak_whose_only_key_is_an_unnamed_code_is_unlinkable(tmp_path):
    """An order number (DD00000001...) is typed a customer number by its shape
    and finds an export's canaries (each located by its number, confirmed by
    its name); renumbered, nothing links, and the verdict must not say 'not
    this bank's data'."""
    from tracer import attribute

    table = make_customers(400, seed=15)
    table = table.append_column("订单号", pa.array([f"DD{i * 1000:08d}" for i in range(400)]))  # with gaps
    src = tmp_path / "c.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    export(ExportRequest(str(src), "R", "p", str(tmp_path / "o.csv"), columns=["订单号", "姓名", "地址", "月日均存款"],
                         canaries=8), home=home)
    assert [c.recipient for c in attribute(tmp_path / "o.csv", home=home).accused] == ["R"]  # it links
    out = pacsv.read_csv(tmp_path / "o.csv", convert_options=pacsv.ConvertOptions(
        column_types={"订单号": pa.string(), "月日均存款": pa.string()}))
    renumbered = out.set_column(out.column_names.index("订单号"), "订单号",
                                pa.array([f"XS{i:08d}" for i in range(out.num_rows)]))
    leak = tmp_path / "leak.csv"
    pacsv.write_csv(renumbered, leak)
    v = attribute(leak, home=home)  # the same rows, their only key renumbered: nothing links
    assert v.verdict == "unlinkable" and not v.accused


def test_no_mark_puts_a_date_after_the_day_of_the_export(tmp_path):
    """Accounts opened in the last days before the export stay in the past:
    a date mark never moves a date beyond the export's day."""
    import csv
    from datetime import datetime, timedelta

    import pyarrow as pa

    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    now = datetime(2026, 12, 2, 9, 0)
    table = make_customers(3000, seed=41)
    recent = [(now.date() - timedelta(days=i % 9)).isoformat() for i in range(table.num_rows)]
    table = table.set_column(table.column_names.index("开户日期"), "开户日期", pa.array(recent))
    src, out = tmp_path / "recent.csv", tmp_path / "out.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    receipt = export(ExportRequest(str(src), "R", "p", str(out), now=now), home=home)
    with open(out, encoding="utf-8-sig", newline="") as f:
        dates = [r["开户日期"] for r in csv.DictReader(f)]
    assert max(dates) <= now.date().isoformat()
    marked = next(c.marked for c in receipt.columns if c.name == "开户日期")
    assert 0 < marked < 0.6 * table.num_rows  # dates 5-8 days back still carry marks


@pytest.mark.parametrize("first, width", [(1, 0), (1, 5)])
def test_a_row_number_column_is_numbered_again_over_the_rows_as_written(tmp_path, first, width):
    """序号 1, 2, 3 ...: a canary copying its donor's number would repeat it.
    The export numbers the column again over the rows it writes."""
    import csv
    import json

    import duckdb
    import pyarrow as pa

    from tracer import ExportRequest, Home, export, init
    from tracer.synthdata import make_customers, write_csv

    table = make_customers(1500, seed=43)
    numbers = [str(first + i).zfill(width) for i in range(table.num_rows)]
    src, out = tmp_path / "numbered.csv", tmp_path / "out.csv"
    write_csv(table.add_column(0, "序号", pa.array(numbers)), src)
    home = Home.at(tmp_path / "home")
    init(home)
    receipt = export(ExportRequest(str(src), "R", "p", str(out)), home=home)
    with open(out, encoding="utf-8-sig", newline="") as f:
        written = [r["序号"] for r in csv.DictReader(f)]
    assert receipt.canaries > 0 and any("numbers the rows" in n for n in receipt.notes)
    assert written == [str(first + i).zfill(width) for i in range(len(written))]
    con = duckdb.connect(str(home.store_path), read_only=True)
    stored = {json.loads(j)["序号"] for (j,) in con.execute("SELECT row_json FROM canaries").fetchall()}
    con.close()
    assert stored <= set(written)  # the canaries' rows as written


def test_rows_the_filter_gives_back_their_originals_are_recorded_as_unmarked(tmp_path):
    """Amounts just above a --where threshold: a mark that would move one
    below it is undone (the row keeps its original values). Such a cell was
    selected but written unmarked, so the export records its row key with
    the channel: attribution must never take it for a cell this export
    moved (it may still hold an earlier copy's mark)."""
    import json

    import duckdb

    from tracer import leaks

    home = Home.at(tmp_path / "home")
    init(home)
    table = make_customers(3000, seed=12)
    cents = pa.array([f"{50000 + (i % 50) / 100:.2f}" for i in range(table.num_rows)])
    table = table.set_column(table.column_names.index("月日均存款"), "月日均存款", cents)
    src = tmp_path / "near.csv"
    write_csv(table, src)
    out = tmp_path / "out.csv"
    receipt = export(ExportRequest(str(src), "R", "p", str(out), where='"月日均存款" >= 50000'), home=home)
    assert receipt.reverted_for_filter > 0
    header, rows = leaks.read(out)
    assert min(float(r[header.index("月日均存款")]) for r in rows) >= 50000
    con = duckdb.connect(str(home.store_path), read_only=True)
    params = json.loads(con.execute("SELECT params FROM exports").fetchone()[0])
    con.close()
    left = [u for m, u in zip(params["mark_columns"], params["unmarked"]) if m["name"] == "月日均存款"]
    assert left and all(u is not None for u in left)
    assert 0 < len(set().union(*left)) <= receipt.reverted_for_filter


def _sorted_by_two_codes(n: int, contract_gaps: float, seed: int, member_gaps: float = 0.3) -> pa.Table:
    """A list sorted by member number whose contract numbers ascend with it,
    with a gap after ``member_gaps`` and ``contract_gaps`` of the rows."""
    import numpy as np

    table = make_customers(n, seed=seed).drop_columns(["客户号"])
    rng = np.random.default_rng(seed)
    member = 1000 + np.cumsum(1 + (rng.random(n) < member_gaps))
    contract = 123 + np.cumsum(1 + (rng.random(n) < contract_gaps))
    table = table.add_column(0, "会员号", pa.array([f"VIP{v:06d}" for v in member]))
    return table.add_column(1, "合同号", pa.array([f"HT2024{v:06d}" for v in contract]))


def _canaries_out_of_order(home, out, column: str) -> tuple[int, int]:
    """(canaries whose code in ``column`` does not sort between their real
    neighbours', canaries), from the file as written."""
    import bisect
    import json

    import duckdb

    from tracer import leaks

    con = duckdb.connect(str(home.store_path), read_only=True)
    unique = {json.loads(r[0])["身份证号"] for r in con.execute(
        "SELECT row_json FROM canaries WHERE shared_id IS NULL").fetchall()}
    pooled = {json.loads(r[0])["身份证号"] for r in con.execute(
        "SELECT row_json FROM canaries WHERE shared_id IS NOT NULL").fetchall()}
    con.close()
    header, rows = leaks.read(out)
    idno, at = header.index("身份证号"), header.index(column)
    real_at = [i for i, r in enumerate(rows) if r[idno] not in unique | pooled]
    bad, seen = 0, 0
    for i, r in enumerate(rows):
        if r[idno] in unique | pooled:
            seen += 1
            k = bisect.bisect_left(real_at, i)
            below = rows[real_at[k - 1]][at] if k else ""
            above = rows[real_at[k]][at] if k < len(real_at) else "~"
            bad += not below < r[at] < above
    return bad, seen


@pytest.mark.parametrize("contract_gaps", [0.3, 0.1])
def test_canaries_keep_the_order_of_every_ascending_code_column_where_a_gap_has_room(tmp_path, contract_gaps):
    """Member and contract numbers both ascending: each canary sits between
    two rows with a free number in both columns (before, 20 of 30 broke the
    contract column's order in a list with a gap after three rows in ten,
    24 of 25 with one in twenty). A pooled canary is moved in the source's
    order with the pool's key: the same person in every export."""
    import json

    import duckdb

    home = Home.at(tmp_path / "home")
    init(home)
    src = tmp_path / "sorted.csv"
    write_csv(_sorted_by_two_codes(4000, contract_gaps, seed=9), src)
    for name in ("R", "S"):
        out = tmp_path / f"{name}.csv"
        receipt = export(ExportRequest(str(src), name, "p", str(out)), home=home)
        assert not any("break the ascending order" in n for n in receipt.notes)
        for column in ("会员号", "合同号"):
            bad, seen = _canaries_out_of_order(home, out, column)  # R's and S's canaries: those in S's file
            assert seen >= 15 and bad == 0, (column, bad, seen)
    con = duckdb.connect(str(home.store_path), read_only=True)
    versions: dict[str, set] = {}
    for shared, row in con.execute("SELECT shared_id, row_json FROM canaries WHERE shared_id IS NOT NULL").fetchall():
        row = json.loads(row)
        versions.setdefault(shared, set()).add((row["会员号"], row["合同号"], row["身份证号"]))
    con.close()
    assert versions and all(len(v) == 1 for v in versions.values())


def test_a_contract_column_without_free_numbers_is_named_in_the_receipt(tmp_path):
    """No gap anywhere in the contract numbers: no canary can sit in their
    order, and the receipt says which column gives them away."""
    home = Home.at(tmp_path / "home")
    init(home)
    src, out = tmp_path / "gapless.csv", tmp_path / "out.csv"
    write_csv(_sorted_by_two_codes(3000, 0.0, seed=4), src)
    receipt = export(ExportRequest(str(src), "R", "p", str(out)), home=home)
    note = next(n for n in receipt.notes if "break the ascending order" in n)
    assert "'合同号'" in note and "--columns" in note
    bad, seen = _canaries_out_of_order(home, out, "会员号")
    assert bad == 0 and seen > 0  # the member numbers stay in order
    header = _sorted_by_two_codes(10, 0.0, seed=4).column_names
    receipt = export(ExportRequest(str(src), "S", "p", str(tmp_path / "S.csv"),
                                   columns=[c for c in header if c != "合同号"]), home=home)
    assert not any("break the ascending order" in n for n in receipt.notes)  # as the note said


def test_no_two_canaries_share_a_code_in_any_code_column(tmp_path):
    """A densely numbered list sorted by two code columns leaves canaries few
    free numbers: the contract number (not the column the store digests)
    was drawn without looking at the other canaries', so up to 28 canaries
    of one export shared one (a leaker's "occurs more than once" check
    found them at no cost), and pooled canaries drawn from their own
    streams could share a member number."""
    import collections
    import json

    import duckdb

    home = Home.at(tmp_path / "home")
    init(home)
    src = tmp_path / "dense.csv"
    table = _sorted_by_two_codes(6000, 0.05, seed=3, member_gaps=0.03)
    write_csv(table, src)
    real = {c: set(table.column(c).to_pylist()) for c in ("会员号", "合同号")}
    for name in ("R", "S"):
        export(ExportRequest(str(src), name, "p", str(tmp_path / f"{name}.csv")), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    rows = con.execute("SELECT export_no, row_json FROM canaries").fetchall()
    con.close()
    for column in ("会员号", "合同号"):
        for export_no in {r[0] for r in rows}:
            codes = collections.Counter(json.loads(r[1])[column] for r in rows if r[0] == export_no)
            assert codes and max(codes.values()) == 1, (column, export_no, codes.most_common(2))
            assert not set(codes) & real[column]


def test_a_moved_canary_sits_in_its_gap_as_a_real_row_sits_between_its_neighbours():
    """_Patterns: the gap a canary fills is as wide, in every column, as a
    real row's two neighbours are apart, and the canary splits it as that
    row does; each gap is used once."""
    import numpy as np

    from canary.prf import Key, Stream
    from tracer.canaries import _Patterns

    rng = np.random.default_rng(5)
    member = 100 + np.cumsum(rng.integers(1, 5, 3000))
    contract = 7000 + np.cumsum(rng.integers(1, 4, 3000))
    numbers = [member, contract]
    room = (np.diff(member) >= 2) & (np.diff(contract) >= 2)
    patterns = _Patterns(numbers, [np.ones(3000, bool)] * 2, room)
    spans = {(int(member[r + 1] - member[r - 1]), int(contract[r + 1] - contract[r - 1]),
              int(member[r] - member[r - 1]), int(contract[r] - contract[r - 1])) for r in range(1, 2999)}
    stream = Stream(Key(b"k" * 32), "test")
    used = []
    for _ in range(50):
        got = patterns.place(stream)
        assert got is not None
        a, split = got
        assert room[a] and a not in used
        used.append(a)
        assert (int(member[a + 1] - member[a]), int(contract[a + 1] - contract[a]), *map(int, split)) in spans


def test_code_columns_too_long_to_count_never_stop_an_export(tmp_path):
    """Member numbers of 19 digits (past what 64 bits count) in a list sorted
    by member and contract numbers: gaps are not known to have a free
    number, and an export used to fail drawing from an empty one."""
    import numpy as np

    home = Home.at(tmp_path / "home")
    init(home)
    table = make_customers(3000, seed=9).drop_columns(["客户号"])
    rng = np.random.default_rng(9)
    member = 10 ** 18 + np.cumsum(1 + (rng.random(3000) < 0.3))
    contract = 123 + np.cumsum(1 + (rng.random(3000) < 0.1))
    table = table.add_column(0, "会员号", pa.array([f"VIP{v:019d}" for v in member]))
    table = table.add_column(1, "合同号", pa.array([f"HT2024{v:06d}" for v in contract]))
    src = tmp_path / "wide.csv"
    write_csv(table, src)
    for name, shared in (("R", True), ("S", False)):
        receipt = export(ExportRequest(str(src), name, "p", str(tmp_path / f"{name}.csv"), shared_canaries=shared),
                         home=home)
        assert receipt.canaries > 0


def test_the_cap_on_recorded_unmarked_cells_counts_only_the_exported_rows(tmp_path):
    """Marks are planned for every source row; a filtered export records, and
    caps, only its own rows' unparsed cells (a 750-row export of a list with
    6,000 unparsed dates recorded its channel as unknown)."""
    import json

    import duckdb
    import numpy as np

    from tracer.commit import UNMARKED_CAP

    table = make_customers(15000, seed=3)
    rng = np.random.default_rng(1)
    dates = [f"{int(x[:4])}/{int(x[5:7])}/{int(x[8:10])}" if rng.random() < 0.4 else x
             for x in table.column("开户日期").to_pylist()]
    table = table.set_column(table.column_names.index("开户日期"), "开户日期", pa.array(dates))
    table = table.append_column("flag", pa.array([str(i % 20 == 0) for i in range(table.num_rows)]))
    src = tmp_path / "s.csv"
    write_csv(table, src)
    home = Home.at(tmp_path / "home")
    init(home)
    for name, where in (("ALL", None), ("FEW", "\"flag\" = 'True'")):
        export(ExportRequest(str(src), name, "p", str(tmp_path / f"{name}.csv"), where=where), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)
    recorded = {}
    for name, params in con.execute(
            "SELECT r.name, e.params FROM exports e JOIN recipients r USING (recipient_id)").fetchall():
        params = json.loads(params)
        recorded[name] = dict(zip((m["name"] for m in params["mark_columns"]), params["unmarked"]))["开户日期"]
    con.close()
    assert recorded["ALL"] is None  # the whole list: past the cap, unknown
    assert 0 < len(recorded["FEW"]) <= UNMARKED_CAP


def test_a_copy_with_masked_identifiers_is_unlinkable_not_unrelated(bank, verdict_for):
    """Call-centre lists are often masked (脱敏): 110105********002X,
    138****8000. Such columns are named and typed as ID numbers and phones but
    key nothing, so "nothing links" cannot mean "not this bank's data"."""
    from tracer import leaks

    copy = leaks.drop(leaks.sample(leaks.read(bank["outs"]["A"]), 400, seed=3), ["客户号"])
    masked = leaks.map_column(copy, "身份证号", lambda v: v[:6] + "*" * 8 + v[14:])
    masked = leaks.map_column(masked, "手机号", lambda v: v[:3] + "****" + v[7:])
    v = verdict_for(bank, masked, "masked_copy.csv")
    assert v.verdict == "unlinkable" and not v.accused and "masked" in v.summary
    with_custno = leaks.sample(leaks.read(bank["outs"]["A"]), 400, seed=3)
    for col, mask in (("身份证号", lambda v: v[:6] + "*" * 8 + v[14:]), ("手机号", lambda v: v[:3] + "****" + v[7:]),
                      ("客户号", lambda v: v[:2] + "*" * 6 + v[8:])):  # a customer number's normal form takes any text
        with_custno = leaks.map_column(with_custno, col, mask)
    assert verdict_for(bank, with_custno, "masked_custno.csv").verdict == "unlinkable"
    only_phone_masked = leaks.map_column(copy, "手机号", lambda v: v[:3] + "****" + v[7:])
    assert [c.recipient for c in verdict_for(bank, only_phone_masked, "phone_masked.csv").accused] == ["A"]
