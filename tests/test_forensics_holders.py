"""The holders sweep (forensics.holders) against the SQL it replaced.

The reference is the plain relational statement of the same facts: holders =
DISTINCT (leak row, row key, export) over the join; an export's held rows =
count(DISTINCT leak row); its mark sample = the rows whose row key ranks
within its ``per_export`` smallest held keys (dense_rank). The sweep must
give exactly these, however the work is split into export ranges, with
duplicate export rows, leak rows linked to several keys and keys linked from
several leak rows.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from forensics import holders


def _store(seed: int, *, exports: int = 40, keys: int = 400, leak_rows: int = 150, tangled: bool = False):
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    universe = rng.choice(np.iinfo(np.int64).max, size=keys, replace=False).astype(np.uint64) * np.uint64(2)
    parts = []
    enos = np.sort(rng.choice(np.arange(1, 5 * exports), size=exports, replace=False))  # sparse numbers
    for eno in enos:
        held = rng.choice(universe, size=int(rng.integers(0, keys // 2)), replace=False)
        if tangled and len(held):  # the same row exported twice
            held = np.concatenate([held, held[: len(held) // 5]])
        parts.append(pa.table({"export_no": pa.array(np.full(len(held), eno, np.int32)),
                               "row_key": pa.array(held, pa.uint64())}))
    parts.append(pa.table({"export_no": pa.array(np.full(5, 10 ** 6, np.int32)),  # an export nobody lists
                           "row_key": pa.array(universe[:5], pa.uint64())}))
    con.register("rows_arrow", pa.concat_tables(parts))
    con.execute("CREATE TABLE export_rows AS SELECT * FROM rows_arrow")
    lr = np.arange(leak_rows)
    key = rng.choice(universe, size=leak_rows, replace=True)  # two leak rows may share a key
    src = np.ones(leak_rows, np.int32)
    if tangled:  # some leak rows also link to a second key, some through a second source
        extra = rng.choice(leak_rows, size=leak_rows // 4, replace=False)
        lr = np.concatenate([lr, extra, extra[:5]])
        key = np.concatenate([key, rng.choice(universe, size=len(extra)), key[extra[:5]]])
        src = np.concatenate([src, np.ones(len(extra), np.int32), np.full(5, 2, np.int32)])
    else:
        key = rng.choice(universe, size=leak_rows, replace=False)
    con.register("links_arrow", pa.table({"__lr": pa.array(lr, pa.int64()), "row_key": pa.array(key, pa.uint64()),
                                          "source_id": pa.array(src)}))
    con.execute("CREATE TABLE links AS SELECT DISTINCT * FROM links_arrow")
    return con, [int(e) for e in enos]


def _reference(con, per_export: int):
    con.execute("""CREATE OR REPLACE TABLE holders AS
        SELECT DISTINCT k.__lr, k.row_key, r.export_no FROM links k JOIN export_rows r USING (row_key)""")
    held = dict(con.execute("SELECT export_no, count(DISTINCT __lr) FROM holders GROUP BY export_no").fetchall())
    sample = con.execute(f"""
        SELECT DISTINCT export_no, row_key, __lr FROM (
            SELECT h.*, dense_rank() OVER (PARTITION BY h.export_no ORDER BY h.row_key) AS rk FROM holders h)
        WHERE rk <= {per_export}""").fetchall()
    return held, sorted(sample)


def _swept_sample(h: holders.Holdings):
    pos, lr = h.rows_of_keys(h.sample_key)
    return sorted(zip(h.enos[h.sample_export[pos]].tolist(), h.keys[h.sample_key[pos]].tolist(), lr.tolist()))


@pytest.mark.parametrize("tangled", [False, True], ids=["one-to-one", "tangled"])
@pytest.mark.parametrize("cells", [holders.BITMAP_CELLS, 4000, 1], ids=["one-range", "ranges", "export-by-export"])
@pytest.mark.parametrize("per_export", [1, 17, 10_000])
def test_sweep_equals_the_sql_it_replaced(tangled, cells, per_export):
    con, enos = _store(3, tangled=tangled)
    want_held, want_sample = _reference(con, per_export)
    want_held.pop(10 ** 6)  # not a listed export
    want_sample = [s for s in want_sample if s[0] != 10 ** 6]
    h = holders.sweep(con, "links", "export_rows", enos, per_export=per_export, cells=cells)
    assert h.one_to_one is not tangled
    assert h.held_rows() == want_held
    assert _swept_sample(h) == want_sample


@pytest.mark.parametrize("tangled", [False, True], ids=["one-to-one", "tangled"])
def test_a_deeper_sample_of_some_exports_is_what_a_deeper_sweep_samples(tangled):
    """Attribution sweeps at the first stage's depth and deepens the sample
    only of the exports it reads further: the same pairs a deeper sweep takes."""
    con, enos = _store(6, tangled=tangled)
    shallow = holders.sweep(con, "links", "export_rows", enos, per_export=5)
    deep = holders.sweep(con, "links", "export_rows", enos, per_export=40)
    assert (shallow.held_keys == deep.held_keys).all() and shallow.per_export == 5
    some = np.arange(0, len(deep.enos), 2)
    exp, key = shallow.deeper_sample(some[::-1], 40)  # any order in, holding order out
    pick = np.isin(deep.sample_export, some)
    assert exp.tolist() == deep.sample_export[pick].tolist() and key.tolist() == deep.sample_key[pick].tolist()
    assert len(key) > len(np.flatnonzero(np.isin(shallow.sample_export, some)))


@pytest.mark.parametrize("tangled", [False, True], ids=["one-to-one", "tangled"])
def test_counting_in_small_blocks_equals_one_block(tangled, monkeypatch):
    """Exports are counted and sampled a block at a time; every block must use
    the same key index (a block once overwrote it for the next)."""
    con, enos = _store(4, tangled=tangled)
    want_held, want_sample = _reference(con, 17)
    want_held.pop(10 ** 6, None)
    want_sample = [s for s in want_sample if s[0] != 10 ** 6]
    monkeypatch.setattr(holders, "BLOCK_BYTES", 1)  # one export per block
    h = holders.sweep(con, "links", "export_rows", enos, per_export=17)
    assert h.held_rows() == want_held
    assert _swept_sample(h) == want_sample


def test_covered_counts_distinct_leak_rows_of_a_set_of_exports():
    con, enos = _store(5, tangled=True)
    h = holders.sweep(con, "links", "export_rows", enos, per_export=10, cells=3000)
    for chosen in (enos[:1], enos[:3], enos[::2], [], [123456789]):
        ids = ", ".join(map(str, chosen)) or "NULL"
        want = con.execute(f"""SELECT count(DISTINCT k.__lr) FROM links k JOIN export_rows r USING (row_key)
                               WHERE r.export_no IN ({ids})""").fetchone()[0]
        assert h.covered(chosen) == want


def test_no_links_or_no_exports_hold_nothing():
    con, enos = _store(7)
    con.execute("DELETE FROM links")
    h = holders.sweep(con, "links", "export_rows", enos, per_export=5)
    assert h.held_rows() == {} and len(h.sample_key) == 0 and h.covered(enos) == 0
    con, _ = _store(7)
    h = holders.sweep(con, "links", "export_rows", [], per_export=5)
    assert h.held_rows() == {}
