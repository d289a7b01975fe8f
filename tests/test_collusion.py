"""Colluders merging copies (issue 5): union, intersection, cell-by-cell choice.

At least one colluder is named and never an innocent recipient, with the
false-accusation probability corrected for every export in the store.
"""

from __future__ import annotations

import pytest

from tracer import ExportRequest, attribute, export, leaks

CALL_COLS = ["姓名", "手机号", "月日均存款", "客户等级"]


@pytest.fixture(scope="module")
def world(new_world):
    root, home, source = new_world("collusion", 6000, 31)
    plans = {
        # two call centres holding different 30% samples
        "cc1": dict(columns=CALL_COLS, where='hash("客户号") % 10 < 3'),
        "cc2": dict(columns=CALL_COLS, where='hash("客户号") % 10 >= 7'),
        # identical full copies
        "A": {}, "B": {},
        # a subset and one branch's rows
        "subset": dict(where="客户等级 <> '普通'"),
        "branch": dict(where="开户网点 LIKE '北京%'"),
        # innocent bystanders with overlapping rows
        "audit": {}, "marketing": dict(columns=CALL_COLS),
    }
    outs = {}
    for name, kw in plans.items():
        outs[name] = root / f"{name}.csv"
        export(ExportRequest(str(source), name, "test", str(outs[name]), **kw), home=home)
    return {"home": home, "root": root, "outs": outs}


def verdict(world, table, name):
    path = leaks.write(world["root"] / name, table)
    return attribute(path, home=world["home"])


def check(v, coalition, *, all_named=False):
    accused = {c.recipient for c in v.accused}
    assert accused <= set(coalition), f"innocent accused: {accused - set(coalition)}"
    assert accused, v.summary
    if all_named:
        assert accused == set(coalition)
    for c in v.accused:
        assert c.p_value <= 1e-6


def test_union_of_two_call_centres_names_both(world):
    cc1 = leaks.sample(leaks.read(world["outs"]["cc1"]), 500, seed=1)
    cc2 = leaks.sample(leaks.read(world["outs"]["cc2"]), 500, seed=2)
    v = verdict(world, leaks.shuffle(leaks.concat(cc1, cc2), seed=3), "union.csv")
    check(v, {"cc1", "cc2"}, all_named=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_intersection_of_identical_copies_with_random_cells(world, seed):
    a, b = leaks.read(world["outs"]["A"]), leaks.read(world["outs"]["B"])
    merged = leaks.merge_cellwise([a, b], key="身份证号", seed=seed)
    assert len(merged[1]) >= 5900  # every real row, and no canary planted in one copy only
    v = verdict(world, merged, f"intersection_{seed}.csv")
    check(v, {"A", "B"})


def test_intersection_keeps_shared_canaries_pointing_into_the_coalition(world):
    import duckdb

    con = duckdb.connect(str(world["home"].store_path), read_only=True)
    both = {r[0] for r in con.execute("""
        SELECT c.shared_id FROM canaries c JOIN exports e USING (export_no) JOIN recipients r USING (recipient_id)
        WHERE c.shared_id IS NOT NULL AND r.name IN ('A', 'B') GROUP BY 1 HAVING count(DISTINCT r.name) = 2
    """).fetchall()}
    con.close()
    a, b = leaks.read(world["outs"]["A"]), leaks.read(world["outs"]["B"])
    merged = leaks.merge_cellwise([a, b], key="身份证号", seed=5)
    v = verdict(world, leaks.keep(merged, ["姓名", "手机号"]), "intersection_namephone.csv")
    top = {c.recipient: c for c in v.candidates}
    # Every pooled canary both took survives the intersection (about 60/16 of them; rarely none).
    assert top["A"].shared_found == len(both)
    assert set(top["A"].shared_held) == set(top["B"].shared_held) == both
    assert not {c.recipient for c in v.accused} - {"A", "B"}


def test_three_copies_aligned_on_id_with_random_cells(world):
    copies = [leaks.read(world["outs"][n]) for n in ("A", "subset", "branch")]
    merged = leaks.merge_cellwise(copies, key="身份证号", seed=7)
    assert len(merged[1]) > 50
    v = verdict(world, merged, "three.csv")
    check(v, {"A", "subset", "branch"})


def test_majority_vote_of_three_copies(world):
    """Three identical-scope copies, each cell by majority (or the first copy
    when all three differ, as a script would): one of them is named."""
    a, b, audit = (leaks.read(world["outs"][n]) for n in ("A", "B", "audit"))
    header = a[0]
    key = header.index("身份证号")
    maps = [{r[key]: r for r in t[1]} for t in (a, b, audit)]
    common = sorted(set(maps[0]) & set(maps[1]) & set(maps[2]))
    rows = []
    for k in common:
        cells = []
        for j in range(len(header)):
            vals = [m[k][j] for m in maps]
            cells.append(max(set(vals), key=vals.count))
        rows.append(cells)
    v = verdict(world, (header, rows), "majority.csv")
    check(v, {"A", "B", "audit"})


def test_copies_merged_with_every_differing_cell_overwritten_are_not_called_a_source_theft(world):
    """A and B keep the rows both hold and overwrite every cell where their
    copies differ (amounts to the hundred, dates to the 15th): every mark is
    erased (pooled canaries both hold may still name one of them). The
    verdict must not clear them as if the rows came straight from the
    source without saying so."""
    a_head, a_rows = leaks.read(world["outs"]["A"])
    _, b_rows = leaks.read(world["outs"]["B"])
    key = a_head.index("身份证号")
    b_by_id = {r[key]: r for r in b_rows}
    merged = []
    for r in a_rows:
        other = b_by_id.get(r[key])
        if other is None:
            continue
        cells = []
        for col, x, y in zip(a_head, r, other):
            if x == y:
                cells.append(x)
            elif col == "开户日期":
                cells.append(x[:8] + "15")
            else:
                cells.append(f"{round(float(x) / 100) * 100:.2f}")
        merged.append(cells)
    v = verdict(world, leaks.sample((a_head, merged), 800, seed=5), "overwritten.csv")
    assert {c.recipient for c in v.accused} <= {"A", "B"}  # pooled canaries they share may still name one
    if v.verdict == "source":  # marks erased: every holder's read as absent
        assert "overwritten" in v.summary
