"""A repeat export of a source keys only each row's first identifier and
checks its canaries against the store's digests of the source: nothing a
first export guarantees may be lost."""

from __future__ import annotations

import duckdb

from tracer import ExportRequest, export
from tracer.synthdata import make_customers, write_csv


def test_repeat_export_keeps_row_keys_and_canaries_clear_of_customers(home, tmp_path, monkeypatch):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(3000, seed=12), src)
    first = export(ExportRequest(str(src), "A", "p", str(tmp_path / "a.csv")), home=home)
    # Make every third canary of the repeat export carry its donor's real ID
    # number: the collision check (against the store, on a repeat) must drop them.
    from tracer import canaries as planting

    real_synthesize, calls = planting.synthesize, []

    def clashing(columns, donor, stream, **kw):
        row = real_synthesize(columns, donor, stream, **kw)
        calls.append(1)
        if len(calls) % 3 == 0:
            row["身份证号"] = donor["身份证号"]
        return row

    monkeypatch.setattr(planting, "synthesize", clashing)
    second = export(ExportRequest(str(src), "B", "p", str(tmp_path / "b.csv"), canaries=200), home=home)
    con = duckdb.connect(str(home.root / "lineage.duckdb"), read_only=True)
    try:
        nos = dict(con.execute("SELECT export_id, export_no FROM exports").fetchall())
        keys = [{k for (k,) in con.execute("SELECT row_key FROM export_rows WHERE export_no = ?",
                                          [nos[r.export_id]]).fetchall()} for r in (first, second)]
        assert keys[0] == keys[1] and len(keys[0]) == 3000  # same rows, same keys
        assert con.execute("SELECT count(DISTINCT source_id) FROM exports").fetchone()[0] == 1
        # No canary of the repeat export shares an identifier with any customer of the source.
        clash = con.execute("""
            SELECT count(*) FROM canaries c JOIN source_identities s
              ON s.digest IN (c.idno_digest, c.phone_digest, c.email_digest, c.custno_digest, c.account_digest)
            WHERE c.export_no = ?""", [nos[second.export_id]]).fetchone()[0]
        assert second.canaries >= 200 and clash == 0 and len(calls) > second.canaries
    finally:
        con.close()


def test_a_canary_never_reuses_an_identifier_of_an_earlier_exports_canary(home, tmp_path, monkeypatch):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(2000, seed=13), src)
    export(ExportRequest(str(src), "A", "p", str(tmp_path / "a.csv"), canaries=50), home=home)
    con = duckdb.connect(str(home.root / "lineage.duckdb"), read_only=True)
    try:
        import json

        earlier = [json.loads(j) for (j,) in con.execute(
            "SELECT row_json FROM canaries WHERE shared_id IS NULL").fetchall()]
    finally:
        con.close()
    from tracer import canaries as planting

    real_synthesize, calls = planting.synthesize, []

    def reusing(columns, donor, stream, **kw):
        row = real_synthesize(columns, donor, stream, **kw)
        calls.append(1)
        if len(calls) % 3 == 0:
            row.update(earlier[len(calls) % len(earlier)])  # a whole earlier canary: passes every check
        return row

    monkeypatch.setattr(planting, "synthesize", reusing)
    b = export(ExportRequest(str(src), "B", "p", str(tmp_path / "b.csv"), canaries=50), home=home)
    con = duckdb.connect(str(home.root / "lineage.duckdb"), read_only=True)
    try:
        clash = con.execute("""
            SELECT count(*) FROM canaries b JOIN canaries a ON a.idno_digest = b.idno_digest
            WHERE b.export_no = (SELECT export_no FROM exports WHERE export_id = ?)
              AND a.export_no <> b.export_no AND b.shared_id IS NULL""", [b.export_id]).fetchone()[0]
    finally:
        con.close()
    assert clash == 0 and len(calls) > b.canaries >= 50
