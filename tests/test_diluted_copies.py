"""A few rows of one recipient's copy among many raw source rows: its marks
read at chance, but a canary of its own in the leak proves rows of its copy
are there. "Its fingerprint is absent" must not be said of it (a review
found the only export holding the leak's canary excluded so, and the
verdict saying no export explains the leak)."""

from __future__ import annotations

import csv
import random

import duckdb
import pytest

from tracer import ExportRequest, attribute, export


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def diluted(new_world):
    """A and B export one source; ``only_a``: ID numbers of the pooled
    canaries (each export of a source takes a keyed quarter of its pool)
    that A took and B did not."""
    d, home, src = new_world("diluted", 3000, 10)
    a = export(ExportRequest(str(src), "A", "p", str(d / "A.csv")), home=home)
    b = export(ExportRequest(str(src), "B", "p", str(d / "B.csv")), home=home)
    con = duckdb.connect(str(home.store_path), read_only=True)

    def pooled(export_id):
        return {row[0] for row in con.execute(
            "SELECT json_extract_string(c.row_json, '$.身份证号') FROM canaries c JOIN exports e USING (export_no) "
            "WHERE e.export_id = ? AND c.shared_id IS NOT NULL", [export_id]).fetchall()}
    only_a = pooled(a.export_id) - pooled(b.export_id)
    con.close()
    assert only_a  # 30 pooled canaries: one A took and B did not, but with chance 0.998
    return d, home, src, only_a


def test_a_canary_of_its_own_keeps_a_diluted_copy_from_reading_absent(diluted, tmp_path):
    """Five of A's rows and a pooled canary only A took, among 1,000 raw
    rows: A's marks read at chance, but the canary row came from A's copy."""
    d, home, src, only_a = diluted
    header, a_rows = _rows(d / "A.csv")
    _, raw = _rows(src)
    customers = {r[3] for r in raw}
    rng = random.Random(5)
    canary = next(r for r in a_rows if r[3] in only_a)
    rows = rng.sample([r for r in a_rows if r[3] in customers], 5) + [canary] + rng.sample(raw, 1000)
    rng.shuffle(rows)
    leak = tmp_path / "leak.csv"
    with open(leak, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    verdict = attribute(leak, home=home)
    a, b = (next(c for c in verdict.candidates if c.recipient == who) for who in "AB")
    assert a.shared_held and a.marks_readable >= 20  # the canary found; enough marks read for an absence test
    assert not (a.excluded and "absent" in a.excluded)
    assert "pooled canaries" in b.excluded
    assert verdict.verdict == "ambiguous" and "between A" in verdict.summary  # A's copy, or the source
