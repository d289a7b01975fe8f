"""End-to-end attribution on the core's acceptance cases (issue 3)."""

from __future__ import annotations

import pytest

from canary.kinds import Kind
from canary.validators import duplicate_problems, row_problems
from forensics.coltypes import type_columns
from tracer import leaks
from tracer.synthdata import make_customers, write_csv


def accused_names(v):
    return sorted({c.recipient for c in v.candidates if c.accused})


@pytest.mark.parametrize("shape", ["full", "5pct", "50rows", "first100_by_name"])
@pytest.mark.parametrize("leaker", ["A", "B"])
def test_identical_copies_are_told_apart(bank, verdict_for, shape, leaker):
    copy = leaks.read(bank["outs"][leaker])
    n = len(copy[1])
    table = {
        "full": copy,
        "5pct": leaks.sample(copy, n // 20, seed=1),
        "50rows": leaks.sample(copy, 50, seed=2),
        "first100_by_name": leaks.head(leaks.sort_by(copy, "姓名"), 100),
    }[shape]
    v = verdict_for(bank, table, f"leak_{leaker}_{shape}.csv")
    assert v.verdict == "accused"
    assert accused_names(v) == [leaker]
    best = v.accused[0]
    assert best.p_value <= 1e-6
    other = next(c for c in v.candidates if c.recipient == ("B" if leaker == "A" else "A"))
    assert not other.accused


def test_leaker_dropping_implausible_rows_is_still_attributed(bank, verdict_for):
    """A careful leaker removes rows failing ID checksum, phone prefix or duplicate
    checks (hoping to remove planted rows): canaries pass them, marks survive."""
    header, rows = leaks.read(bank["outs"]["B"])
    types = type_columns(header, [[r[i] for r in rows[:500]] for i in range(len(header))])
    kinds = {t.name: t.kind for t in types}
    ids = [r[header.index("身份证号")] for r in rows]
    phones = [r[header.index("手机号")] for r in rows]
    dup = duplicate_problems(ids) | duplicate_problems(phones)
    kept = [r for i, r in enumerate(rows)
            if i not in dup and not row_problems({kinds[h]: v for h, v in zip(header, r) if kinds[h] is not Kind.OTHER})]
    # Every canary passed every check: nothing was removed at all.
    assert len(kept) == len(rows)
    v = verdict_for(bank, leaks.sample((header, kept), 300, seed=5), "careful_leaker.csv")
    assert accused_names(v) == ["B"]
    assert v.accused[0].hits or v.accused[0].marks_agree


def test_another_banks_list_accuses_nobody(bank):
    other = bank["root"] / "other_bank.csv"
    write_csv(make_customers(3000, seed=5, bank="south"), other)
    from tracer import attribute

    v = attribute(other, home=bank["home"])
    assert v.verdict == "unrelated"
    assert v.accused == []
    assert v.linked_rows == 0


def test_raw_source_rows_match_the_source_not_an_export(bank, verdict_for):
    raw = leaks.sample(leaks.read(bank["source"]), 1000, seed=9)
    v = verdict_for(bank, raw, "raw_source.csv")
    assert v.accused == []
    assert v.verdict == "source"
    assert v.linked_rows == 1000
    assert all(c.excluded for c in v.candidates)


def test_call_centre_copy_is_attributed_to_the_call_centre(bank, verdict_for):
    copy = leaks.read(bank["outs"]["call"])
    v = verdict_for(bank, leaks.sample(copy, 40, seed=3), "call_leak.csv")
    assert accused_names(v) == ["call centre"]


def test_another_banks_people_sharing_a_number_with_customers_accuse_nobody_and_name_nobody(bank, verdict_for):
    """Another bank's list where two people share a number with this bank's
    customers (one an ID number, one a phone; their other identifiers
    differ) read "ambiguous between" the recipients: it is unrelated. A few
    real rows among many others (padding) still link and are not called so."""
    header, mine = leaks.read(bank["outs"]["B"])
    other = make_customers(500, seed=77, bank="south")
    theirs = [[str(v) for v in row] for row in zip(*[other.column(h).to_pylist() for h in header])]
    at = {h: header.index(h) for h in ("身份证号", "手机号")}
    theirs[10][at["身份证号"]] = mine[3][at["身份证号"]]
    theirs[20][at["手机号"]] = mine[4][at["手机号"]]
    v = verdict_for(bank, (header, theirs), "other_bank_sharing.csv")
    assert v.verdict == "unrelated" and not v.accused and v.linked_rows == 2, v.summary
    assert "share one identifier each" in v.summary
    padded = verdict_for(bank, (header, theirs + [r for r in mine[100:115]]), "padded.csv")
    assert padded.verdict != "unrelated", padded.summary
