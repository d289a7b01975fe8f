"""Two-stage mark reading (forensics.twostage): a first read of every export's
sample, the whole sample only where the first read leaves p <= READ_ON_P.
It must accuse exactly whom the full read accuses, on the full read's
figures, and the simulation behind its constants must hold."""

from __future__ import annotations

import math

import pytest

from forensics import twostage
from forensics.attribute import attribute
from tracer import leaks, store


@pytest.fixture(scope="module")
def leak_of_a(bank):
    header, rows = leaks.sample(leaks.read(bank["outs"]["A"]), 600, seed=8)
    path = bank["root"] / "two_stage_leak.csv"
    leaks.write(path, (header, rows))
    return path


def _verdict(bank, path, **kw):
    home = bank["home"]
    con = store.connect(home, read_only=True)
    try:
        store.lineage_views(con)
        return attribute(con, path, home.keyring(), mark_sample=400, mark_first_stage=25, **kw)
    finally:
        con.close()


def test_two_stage_accuses_whom_the_full_read_accuses_on_its_figures(bank, leak_of_a):
    two = {c.export_id: c for c in _verdict(bank, leak_of_a).candidates}
    full = {c.export_id: c for c in _verdict(bank, leak_of_a, mark_read_on_p=1.0).candidates}
    assert two.keys() == full.keys()
    assert {e for e, c in two.items() if c.accused} == {e for e, c in full.items() if c.accused}
    assert sorted(c.recipient for c in two.values() if c.accused) == ["A"]
    read_on = [e for e, c in two.items() if c.marks_rows_read > 25]
    stopped = [e for e, c in two.items() if c.marks_rows_read == 25]
    assert read_on and stopped  # both branches are exercised
    for e in read_on:  # read in full: the full read's tallies and p-values, to the bit
        a, b = two[e], full[e]
        assert a.marks_rows_read == b.marks_rows_read
        assert [(m.readable, m.agree, m.disagree, m.log_p) for m in a.marks] == \
            [(m.readable, m.agree, m.disagree, m.log_p) for m in b.marks]
        assert (a.log_p, a.excluded) == (b.log_p, b.excluded)
    for e in stopped:  # stopped: above the read-on level, so never accused
        assert two[e].log_p_raw > math.log(twostage.READ_ON_P)
        assert not two[e].accused
        assert two[e].to_dict()["evidence"]["marks"]["rows_read"] == 25


def test_simulated_cost_of_stopping_early_is_small():
    innocent = twostage.simulate(0.0, exports=1500, seed=1)
    assert innocent.full == innocent.two_stage == 0.0
    assert innocent.read_on < 0.06  # most innocent exports are read on 2,000 rows only
    weak = twostage.simulate(0.03, exports=1500, seed=2)
    assert 0.5 < weak.full <= 1.0  # a weak mark the full read mostly accuses
    assert weak.two_stage <= weak.full
    assert weak.lost < 0.02
    strong = twostage.simulate(0.1, exports=300, seed=3)
    assert strong.full == strong.two_stage == 1.0


def test_a_first_stage_too_small_loses_power_in_the_simulation():
    """The check has teeth: a 200-row first stage at p <= 0.01 misses accusations."""
    small = twostage.simulate(0.03, exports=1500, first=200, read_on_p=0.01, seed=2)
    assert small.lost > 0.1


def test_a_leak_of_canaries_only_reads_no_marks_and_still_accuses(bank, verdict_for):
    """No leak row links to a real customer, so no export holds any: mark
    tallies are empty for every candidate (the reader must not index them)."""
    source_header, source_rows = leaks.read(bank["source"])
    real = {r[source_header.index("身份证号")] for r in source_rows}
    header, rows = leaks.read(bank["outs"]["A"])
    at = header.index("身份证号")
    planted = [r for r in rows if r[at] not in real]
    assert planted
    v = verdict_for(bank, (header, planted), "canaries_only.csv")
    assert [c.recipient for c in v.accused] == ["A"]
    assert all(m.readable == 0 for c in v.candidates for m in c.marks)
