"""The export's rows are assembled in file order without a global sort
(tracer.assemble): source order kept, canaries spliced in, chunk size
irrelevant to the bytes written."""

from __future__ import annotations

import csv
import importlib
import json
import shutil

import duckdb

from tracer import ExportRequest, Home, export, init
from tracer.synthdata import make_customers, write_csv

assemble = importlib.import_module("tracer.assemble")


def test_rows_keep_source_order_and_chunks_do_not_change_a_byte(tmp_path, monkeypatch):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(1200, seed=44), src)
    h1 = Home.at(tmp_path / "h1")
    init(h1)
    shutil.copytree(h1.root, tmp_path / "h2")
    h2 = Home.at(tmp_path / "h2")
    where = '"月日均存款" >= 1000'
    outs = {}
    for chunk, home in ((assemble.CHUNK_ROWS, h1), (13, h2)):  # 13: chunk edges everywhere, canaries on them
        monkeypatch.setattr(assemble, "CHUNK_ROWS", chunk)
        outs[chunk] = tmp_path / f"out{chunk}.csv"
        r = export(ExportRequest(str(src), "R", "p", str(outs[chunk]), export_id="ex-order001", canaries=25,
                                 where=where), home=home)
    assert outs[13].read_bytes() == outs[assemble.CHUNK_ROWS].read_bytes()

    with open(outs[13], encoding="utf-8-sig", newline="") as f:
        written = list(csv.reader(f))
    header, body = written[0], written[1:]
    con = duckdb.connect(str(h2.root / "lineage.duckdb"), read_only=True)
    try:
        canaries = [json.loads(j) for (j,) in con.execute("SELECT row_json FROM canaries").fetchall()]
    finally:
        con.close()
    canary_lines = {tuple(c[h] or "" for h in header) for c in canaries}
    real = [row for row in body if tuple(row) not in canary_lines]
    assert len(real) == r.rows and len(body) == r.rows + r.canaries and r.canaries >= 25  # + pooled ones
    expected = duckdb.sql(f"SELECT * FROM read_csv('{src}', all_varchar = true) WHERE "
                          f"TRY_CAST(\"月日均存款\" AS DOUBLE) >= 1000").fetchall()
    marked = {c.name for c in r.columns if c.marked}
    keep = [i for i, h in enumerate(header) if h not in marked]
    assert [[row[i] for i in keep] for row in real] == [[(v or "") for v in (e[i] for i in keep)] for e in expected]
    # Every canary sits right after a real row, never first.
    first_canary = next(i for i, row in enumerate(body) if tuple(row) in canary_lines)
    assert first_canary > 0


def test_marks_ranges_and_write_chunks_need_not_line_up(tmp_path, monkeypatch):
    """Real rows are marked in ranges of IDENTITY_BATCH_ROWS, kept in an Arrow
    file, and read back by the writer's chunks: a chunk that spans several
    ranges, or a part of one, under a filter, gives the same bytes."""
    export_module = importlib.import_module("tracer.export")  # tracer.export is also a function
    src = tmp_path / "customers.csv"
    write_csv(make_customers(900, seed=45), src)
    init(Home.at(tmp_path / "h0"))
    outs = []
    for k, (ranges, chunk) in enumerate(((export_module.IDENTITY_BATCH_ROWS, assemble.CHUNK_ROWS), (50, 13),
                                         (7, 100))):
        shutil.copytree(tmp_path / "h0", tmp_path / f"h{k + 1}")
        monkeypatch.setattr(export_module, "IDENTITY_BATCH_ROWS", ranges)
        monkeypatch.setattr(assemble, "CHUNK_ROWS", chunk)
        out = tmp_path / f"out{k}.csv"
        r = export(ExportRequest(str(src), "R", "p", str(out), export_id="ex-ranges01", canaries=20,
                                 where='"月日均存款" >= 1000'), home=Home.at(tmp_path / f"h{k + 1}"))
        assert sum(c.marked for c in r.columns) > 0
        outs.append(out.read_bytes())
    assert outs[1] == outs[0] and outs[2] == outs[0]


def test_marked_ranges_refuse_rows_they_do_not_hold(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pytest

    from canary.errors import TracerError

    ranges = assemble.MarkedRanges(tmp_path / "marks.arrow", 4)
    ranges.append(0, pa.table({"__r": [2, 0, 1, 3], "__n_x": ["c", "a", "b", "d"]}))  # sorted on the way in
    with pytest.raises(ValueError):
        ranges.append(8, pa.table({"__r": [8], "__n_x": ["i"]}))  # a range skipped
    ranges.append(4, pa.table({"__r": [4, 6], "__n_x": ["e", "g"]}))  # row 5 not selected
    ranges.finish()
    got = ranges.rows_for(np.array([1, 3, 4, 6]), 1, 7)  # across both ranges, a filtered subset
    assert got.column("__n_x").to_pylist() == ["b", "d", "e", "g"]
    with pytest.raises(TracerError, match="do not line up"):
        ranges.rows_for(np.array([4, 5]), 4, 6)  # row 5 has no marks
    ranges.close()
    assert not (tmp_path / "marks.arrow").exists()
