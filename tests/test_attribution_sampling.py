"""Attribution reads each export's marks on a sample of the rows it held: the
rows linked to its ``mark_sample`` smallest held row keys. The sweep and the
NumPy reading (forensics.holders, forensics.markread) must count exactly what
the relational statement of that rule counts (the SQL attribution ran before
them, kept here as the reference), and the native and SQL PRF paths must give
the same verdict to the last digit."""

from __future__ import annotations

import json

import pytest

from canary.prf import export_key
from forensics import holders, markplan
from forensics.attribute import attribute
from tracer import leaks, store


def _attribute(world, path, monkeypatch, *, native: bool = True, **kw):
    monkeypatch.setenv("TRACER_NATIVE", "1" if native else "0")
    sweep = holders.sweep

    def checked(*a, **k):  # the leak repeats rows: the general (not one-to-one) path is the one tested
        h = sweep(*a, **k)
        assert not h.one_to_one
        return h
    monkeypatch.setattr(holders, "sweep", checked)
    home = world["home"]
    con = store.connect(home, read_only=True)
    store.lineage_views(con)
    return con, attribute(con, path, home.keyring(), **kw)


def _reference_marks(con, keyring, verdict, per_export: int) -> dict:
    """(export_no, export column, channel) -> (readable, agree, disagree), by the SQL of the first release."""
    con.execute("""CREATE OR REPLACE TEMP TABLE ref_holders AS
        SELECT DISTINCT k.__lr, k.row_key, r.export_no FROM links k JOIN lin_export_rows r USING (row_key)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE ref_rows AS
        SELECT __lr, row_key, export_no FROM (
            SELECT h.*, dense_rank() OVER (PARTITION BY h.export_no ORDER BY h.row_key) AS rk FROM ref_holders h)
        WHERE rk <= {per_export}""")
    out = {}
    for c in verdict.candidates:
        params = con.execute("SELECT params, key_id FROM lin_exports WHERE export_no = ?", [c.export_no]).fetchone()
        cols = {(m["name"], m["channel"]): markplan.MarkColumn(**m) for m in json.loads(params[0])["mark_columns"]}
        ipad, opad = export_key(keyring[params[1]], c.export_id).hmac_pads()
        con.execute("SET VARIABLE ref_i = ?::BLOB", [ipad])
        con.execute("SET VARIABLE ref_o = ?::BLOB", [opad])
        for ev in c.marks:
            m = cols[(ev.export_column, ev.channel)]
            mat = markplan.material_sql("x.row_key", m.group, ipad_sql="getvariable('ref_i')",
                                        opad_sql="getvariable('ref_o')")
            plan = markplan.plan_sql("mat", m)
            units = markplan.units_sql('"' + ev.leak_column + '"', m, reading=True)
            out[(c.export_no, ev.export_column, ev.channel)] = con.execute(f"""
                SELECT count(*), count(*) FILTER (WHERE b = bit), count(*) FILTER (WHERE b = 1 - bit) FROM (
                    SELECT {markplan.read_sql('u', 'dither', m)} AS b, bit FROM (
                        SELECT u, {plan['dither']} AS dither, {plan['bit']} AS bit, {plan['selected']} AS selected
                        FROM (SELECT x.u, {mat} AS mat FROM (
                            SELECT DISTINCT r.row_key, l.u FROM ref_rows r
                            JOIN (SELECT rowid AS __lr, {units} AS u FROM leak) l ON l.__lr = r.__lr
                            WHERE r.export_no = {c.export_no} AND l.u IS NOT NULL) x))
                    WHERE selected AND {markplan.eligible_sql('u', m, embedding=False)})""").fetchone()
    return out


@pytest.fixture(scope="module")
def leak_with_repeats(bank):
    """A's copy sampled, with some rows listed twice (two leak rows, one row key)."""
    header, rows = leaks.sample(leaks.read(bank["outs"]["A"]), 900, seed=4)
    path = bank["root"] / "sampled_leak.csv"
    leaks.write(path, (header, rows + rows[:40]))
    return path


@pytest.mark.parametrize("per_export", [1, 30, 5000])
def test_sampled_marks_count_what_the_sql_counted(bank, leak_with_repeats, monkeypatch, per_export):
    con, v = _attribute(bank, leak_with_repeats, monkeypatch, mark_sample=per_export)
    try:
        want = _reference_marks(con, bank["home"].keyring(), v, per_export)
        got = {(c.export_no, ev.export_column, ev.channel): (ev.readable, ev.agree, ev.disagree)
               for c in v.candidates for ev in c.marks}
        assert got == want
        if per_export >= 30:  # one row per export is unreadable in every channel with a few % chance (random key)
            assert sum(r[0] for r in got.values()) > 0
        held = dict(con.execute("SELECT export_no, count(DISTINCT __lr) FROM ref_holders GROUP BY 1").fetchall())
        assert {c.export_no: c.held_rows for c in v.candidates if c.held_rows} == held
    finally:
        con.close()
    if per_export >= 30:
        assert sorted({c.recipient for c in v.candidates if c.accused}) == ["A"]


def test_native_and_sql_paths_give_the_same_verdict(bank, leak_with_repeats, monkeypatch):
    fixed = {"mark_sample": 40}
    con, native = _attribute(bank, leak_with_repeats, monkeypatch, native=True, **fixed)
    con.close()
    con, sql = _attribute(bank, leak_with_repeats, monkeypatch, native=False, **fixed)
    con.close()
    a, b = native.to_dict(), sql.to_dict()
    a["leak"].pop("examined_at"), b["leak"].pop("examined_at")
    assert a == b
    assert native.verdict == "accused"
