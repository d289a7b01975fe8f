"""A leak made only of pooled canaries (synthetic customers several exports
of one source share) is this bank's planted data: the verdict counts them
as canary rows and never calls the leak unrelated."""

from __future__ import annotations

import json

import duckdb

from tracer import attribute
from tracer.report import verdict_text


def test_a_leak_of_pooled_canaries_alone_is_not_unrelated(bank, tmp_path):
    con = duckdb.connect(str(bank["home"].store_path), read_only=True)
    pooled = {json.loads(r[0])["身份证号"] for r in con.execute(
        "SELECT c.row_json FROM canaries c JOIN exports e USING (export_no) JOIN recipients r USING (recipient_id) "
        "WHERE c.shared_id IS NOT NULL AND r.name = 'A'").fetchall()}
    con.close()
    lines = bank["outs"]["A"].read_text(encoding="utf-8-sig").splitlines(True)
    at = lines[0].strip().split(",").index("身份证号")
    rows = [line for line in lines[1:] if line.split(",")[at] in pooled]
    assert rows  # A takes each of the 40 pooled canaries with chance 1/4: none at all, 1e-5
    leak = tmp_path / "pooled.csv"
    leak.write_text(lines[0] + "".join(rows), encoding="utf-8")
    v = attribute(leak, home=bank["home"])
    assert v.linked_rows == 0 and v.canary_rows == len(rows)
    assert v.verdict != "unrelated"
    assert f"{len(rows)} rows are canaries" in verdict_text(v)
    for c in v.candidates:  # a copy that lacks some of those rows is not their (sole) origin
        if len(c.shared_held) < c.shared_found:
            assert not c.accused and c.excluded  # (the call centre: its missing columns come first)
            assert "pooled canaries in the leak" in c.excluded or "never received column" in c.excluded
    a = next(c for c in v.candidates if c.recipient == "A")
    assert len(a.shared_held) == a.shared_found == len(rows)
    assert f"pooled    {len(rows)} of the {len(rows)} pooled canaries" in verdict_text(v)


def test_pooled_canaries_of_two_copies_read_as_a_merge_not_the_source(bank, tmp_path):
    """Pooled canaries that A took and B did not, beside ones B took and A
    did not: no single copy holds them all, and canaries are never in the
    source, so the verdict names a possible merge of A's and B's copies."""
    con = duckdb.connect(str(bank["home"].store_path), read_only=True)
    took = {name: {json.loads(r[0])["身份证号"] for r in con.execute(
        "SELECT c.row_json FROM canaries c JOIN exports e USING (export_no) JOIN recipients r USING (recipient_id) "
        "WHERE c.shared_id IS NOT NULL AND r.name = ?", [name]).fetchall()} for name in ("A", "B")}
    con.close()
    only = {"A": took["A"] - took["B"], "B": took["B"] - took["A"]}
    assert only["A"] and only["B"]  # each of 40 is A's and not B's with chance 3/16: none, 2.5e-4
    rows, header = [], None
    for name in ("A", "B"):
        lines = bank["outs"][name].read_text(encoding="utf-8-sig").splitlines(True)
        header, at = lines[0], lines[0].strip().split(",").index("身份证号")
        rows += [line for line in lines[1:] if line.split(",")[at] in only[name]][:2]
    leak = tmp_path / "pooled_merge.csv"
    leak.write_text(header + "".join(rows), encoding="utf-8")
    v = attribute(leak, home=bank["home"])
    assert v.verdict == "ambiguous" and "merge" in v.summary and {"A", "B"} <= set(v.summary.replace(",", " ").split())
