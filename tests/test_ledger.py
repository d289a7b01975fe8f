"""The tamper-evident ledger (issue 7): every lineage record is covered; any
deleted, edited, inserted or reordered record or entry is named by `verify`;
a published head proves the store still extends it."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from tracer import ExportRequest, Home, LedgerMismatch, export, init, ledger_head, rotate_key, verify
from tracer import ledger
from tracer.cli import app
from tracer.lineage import add_recipient
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three exports (one after a key rotation), a recipient update: every kind
    of ledger entry."""
    root = tmp_path_factory.mktemp("ledger")
    h = Home.at(root / "home")
    init(h)
    src = root / "customers.csv"
    write_csv(make_customers(300, seed=71), src)
    export(ExportRequest(str(src), "A", "credit review", str(root / "A.csv"), approver="Li"), home=h)
    export(ExportRequest(str(src), "B", "outreach", str(root / "B.csv"), columns=["姓名", "手机号", "月日均存款"],
                         where='"月日均存款" >= 20000'), home=h)
    add_recipient("B", kind="vendor", contract_end=date(2030, 1, 1), home=h)
    rotate_key(h)
    export(ExportRequest(str(src), "C", "marketing", str(root / "C.csv")), home=h)
    return {"home": h, "root": root, "src": src}


def copy_home(world, tmp_path) -> Home:
    dst = tmp_path / "copy"
    shutil.copytree(world["home"].root, dst)
    return Home.at(dst)


def tamper(home: Home, *sql: str) -> None:
    con = duckdb.connect(str(home.store_path))
    try:
        for s in sql:
            con.execute(s)
    finally:
        con.close()


def problems_after(world, tmp_path, *sql: str) -> list[str]:
    h = copy_home(world, tmp_path)
    tamper(h, *sql)
    with pytest.raises(LedgerMismatch) as e:
        verify(h)
    assert str(e.value).startswith(str(h.store_path))
    assert e.value.exit_code == 3
    return e.value.result.problems


def test_an_untouched_store_verifies_and_every_record_is_covered(world):
    r = verify(world["home"])
    assert r.ok and r.problems == [] and r.recovered == []
    assert r.entries == 6  # init, 3 exports, a recipient change, a key rotation
    con = duckdb.connect(str(world["home"].store_path), read_only=True)
    try:
        total = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ledger.SCOPES)
        kinds = [k for (k,) in con.execute("SELECT kind FROM ledger ORDER BY seq").fetchall()]
        tables = {n for (n,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert r.records == total > 1000
    assert kinds == ["init", "export", "export", "recipient", "key-rotate", "export"]
    assert tables - {"ledger"} <= set(ledger.SCOPES)  # every lineage table is covered


ROW_OF = "(SELECT min(rowid) FROM {t} WHERE export_no = {n})"

TAMPERING = [
    # (what, SQL, the record named first, the kind of change)
    ("meta edited", "UPDATE meta SET value = 'k0' WHERE key = 'first_key_id'", "meta key=first_key_id", "edited"),
    ("meta deleted", "DELETE FROM meta WHERE key = 'schema_version'", "meta key=schema_version", "deleted"),
    ("meta inserted", "INSERT INTO meta VALUES ('note', 'x')", "meta key=note", "inserted"),
    ("recipient renamed", "UPDATE recipients SET name = 'Z' WHERE recipient_id = 1", "recipients recipient_id=1",
     "edited"),
    ("recipient contract moved", "UPDATE recipients SET contract_end = DATE '2040-01-01' WHERE recipient_id = 2",
     "recipients recipient_id=2", "edited"),
    ("recipient deleted", "DELETE FROM recipients WHERE recipient_id = 3", "recipients recipient_id=3", "deleted"),
    ("recipient inserted", "INSERT INTO recipients (recipient_id, name, created_at) VALUES (9, 'Ghost', "
                           "TIMESTAMP '2026-01-01 00:00:00')", "recipients recipient_id=9", "inserted"),
    ("source edited", "UPDATE sources SET rows = rows + 1 WHERE source_id = 1", "sources source_id=1", "edited"),
    ("identity deleted", "DELETE FROM source_identities WHERE rowid = (SELECT min(rowid) FROM source_identities)",
     "source_identities source_id=1", "deleted"),
    ("identity edited", "UPDATE source_identities SET digest = digest + 1 WHERE rowid = "
                        "(SELECT max(rowid) FROM source_identities WHERE source_id = 1)",
     "source_identities source_id=1", "edited"),
    ("identity inserted", "INSERT INTO source_identities SELECT source_id, kind, digest + 1, row_key "
                          "FROM source_identities WHERE source_id = 2 LIMIT 1", "source_identities source_id=2",
     "inserted"),
    ("purpose edited", "UPDATE exports SET purpose = 'audit' WHERE export_no = 1", "exports export_no=1", "edited"),
    ("file hash edited", "UPDATE exports SET sha256 = repeat('0', 64) WHERE export_no = 2", "exports export_no=2",
     "edited"),
    ("export given to another recipient", "UPDATE exports SET recipient_id = 1 WHERE export_no = 2",
     "exports export_no=2", "edited"),
    ("export deleted", "DELETE FROM exports WHERE export_no = 3", "exports export_no=3", "deleted"),
    ("export inserted", "INSERT INTO exports SELECT * REPLACE (9 AS export_no, 'ex-forged' AS export_id) "
                        "FROM exports WHERE export_no = 1", "exports export_no=9", "inserted"),
    ("row deleted", f"DELETE FROM export_rows WHERE rowid = {ROW_OF.format(t='export_rows', n=2)}",
     "export_rows export_no=2", "deleted"),
    ("row edited", f"UPDATE export_rows SET row_key = row_key + 1 WHERE rowid = {ROW_OF.format(t='export_rows', n=3)}",
     "export_rows export_no=3", "edited"),
    ("row moved to another export", "UPDATE export_rows SET export_no = 1 WHERE rowid = "
                                    f"{ROW_OF.format(t='export_rows', n=2)}", "export_rows export_no=1", "inserted"),
    ("canary edited", "UPDATE canaries SET row_json = '{}' WHERE export_no = 1 AND canary_no = 0",
     "canaries export_no=1", "edited"),
    ("canaries deleted", "DELETE FROM canaries WHERE export_no = 2", "canaries export_no=2", "deleted"),
    ("unledgered table", "CREATE TABLE extra AS SELECT 1 AS x", "table extra", "does not cover"),
    ("ledger entry deleted", "DELETE FROM ledger WHERE seq = 3", "ledger entry 4", "out of sequence"),
    ("ledger entry edited", "UPDATE ledger SET ref = 'ex-other' WHERE seq = 2", "ledger entry 2", "edited"),
    ("ledger key id swapped", "UPDATE ledger SET key_id = (SELECT key_id FROM ledger WHERE seq = 6) WHERE seq = 2",
     "ledger entry 2", "edited"),
]


@pytest.mark.parametrize("what,sql,record,change", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verify_names_the_first_bad_record(world, tmp_path, what, sql, record, change):
    problems = problems_after(world, tmp_path, sql)
    assert record in problems[0] and change in problems[0], problems


def test_reordered_entries_break_the_chain(world, tmp_path):
    problems = problems_after(world, tmp_path, "UPDATE ledger SET seq = 100 WHERE seq = 2",
                              "UPDATE ledger SET seq = 2 WHERE seq = 3", "UPDATE ledger SET seq = 3 WHERE seq = 100")
    assert "ledger entry 2" in problems[0] and "does not chain" in problems[0]


def test_physical_row_order_is_not_a_change(world, tmp_path):
    h = copy_home(world, tmp_path)
    tamper(h, "CREATE TABLE t AS SELECT * FROM export_rows ORDER BY row_key DESC", "DELETE FROM export_rows",
           "INSERT INTO export_rows SELECT * FROM t", "DROP TABLE t")
    assert verify(h).ok


def _rechain(h: Home, key=None) -> None:
    """What a forger without the key does: make every digest and hash agree
    with the edited records again, keeping (or faking) the MACs."""
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{h.store_path}' AS store")
    schema = ledger._schema(con)
    rows = con.execute("SELECT seq, kind, ref, scopes, key_id, mac, created_at FROM store.ledger ORDER BY seq").fetchall()
    prev = ledger.GENESIS
    for seq, kind, ref, scopes, key_id, mac, created_at in rows:
        fresh = [[t, k, *ledger.scope_digest(con, t, k, schema)] for t, k, _, _ in json.loads(scopes)]
        body = ledger._body(seq, kind, ref, fresh, key_id, ledger._iso(created_at))
        eh = ledger.entry_hash(prev, body)
        if key is not None:
            mac = ledger.entry_mac(key, eh)
        con.execute("UPDATE store.ledger SET scopes = ?, prev_hash = ?, entry_hash = ? , mac = ? WHERE seq = ?",
                    [json.dumps(fresh, separators=(",", ":")), prev, eh, mac, seq])
        prev = eh
    con.close()


@pytest.mark.parametrize("forger_key", [False, True], ids=["macs-kept", "macs-made-with-another-key"])
def test_a_rewritten_chain_fails_on_the_mac(world, tmp_path, forger_key):
    from canary.prf import Key

    h = copy_home(world, tmp_path)
    tamper(h, "UPDATE exports SET approver = 'Nobody' WHERE export_no = 1")
    _rechain(h, Key.generate() if forger_key else None)
    with pytest.raises(LedgerMismatch) as e:
        verify(h)
    first = 1 if forger_key else 2  # a forger re-signing everything fails from the first entry on
    assert f"ledger entry {first}:" in str(e.value) and "MAC does not verify" in str(e.value)


def test_the_published_head_catches_a_truncated_log(world, tmp_path):
    h = copy_home(world, tmp_path)
    published = ledger_head(h)
    assert published.seq == 6 and len(published.root) == 64
    assert verify(h, head=published.root).ok
    # Remove the last export and its entry entirely: the chain alone still holds...
    tamper(h, "DELETE FROM ledger WHERE seq = 6", "DELETE FROM canaries WHERE export_no = 3",
           "DELETE FROM export_rows WHERE export_no = 3", "DELETE FROM exports WHERE export_no = 3",
           "DELETE FROM source_identities WHERE source_id = 2", "DELETE FROM sources WHERE source_id = 2",
           "DELETE FROM recipients WHERE recipient_id = 3")
    assert verify(h).ok
    # ...but not against the head published before.
    with pytest.raises(LedgerMismatch) as e:
        verify(h, head=published.root)
    assert "published head" in str(e.value) and "does not extend" in str(e.value)


def test_a_later_store_extends_an_earlier_head(world, tmp_path):
    h = copy_home(world, tmp_path)
    earlier = ledger_head(h).root
    export(ExportRequest(str(world["src"]), "D", "p", str(tmp_path / "D.csv")), home=h)
    assert ledger_head(h).root != earlier
    assert verify(h, head=earlier).ok


def _reference_digest(con, table: str, key) -> str:
    """The documented encoding, recomputed row by row (slow, independent)."""
    cols = [(c, t) for c, t in ledger._schema(con)[table]]
    keycol = ledger.SCOPES[table]
    n = con.execute(f"SELECT count(*) FROM store.{table} WHERE {keycol} = ?", [key]).fetchone()[0]
    present = [(c, t) for c, t in cols
               if con.execute(f'SELECT count("{c}") FROM store.{table} WHERE {keycol} = ?', [key]).fetchone()[0]]
    texts = ", ".join(f'CAST(to_json("{c}") AS VARCHAR)' for c, _ in present)
    order = ", ".join(f'"{c}" NULLS LAST' for c, _ in present)
    raw = con.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c, _ in present)}, {texts} '
                      f"FROM store.{table} WHERE {keycol} = ? ORDER BY {order}", [key]).fetchall()
    h = hashlib.sha256(f"ledger/v1/records\0{table}\0{n}\0".encode())
    for j, (c, t) in enumerate(present):
        nulls, values = hashlib.sha256(), hashlib.sha256()
        integer = t in ledger._SIGNED + ledger._UNSIGNED
        for row in raw:
            v, text = row[j], row[len(present) + j]
            if integer:
                nulls.update(bytes([v is None]))
                values.update(np.array([v or 0], dtype="<u8" if t in ledger._UNSIGNED else "<i8").tobytes())
            else:
                data = None if text is None else text.encode()
                nulls.update(np.array([-1 if data is None else len(data)], dtype="<i8").tobytes())
                values.update(data or b"")
        tag = ("u8" if t in ledger._UNSIGNED else "i8") if integer else "json"
        h.update(f"{c}\0{tag}\0".encode() + nulls.digest() + values.digest())
    return h.hexdigest()


@pytest.mark.parametrize("table,key", [("exports", 2), ("canaries", 1), ("recipients", 2), ("meta", "first_key_id"),
                                       ("export_rows", 2), ("sources", 1)])
def test_the_columnar_digest_matches_the_documented_encoding(world, table, key):
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{world['home'].store_path}' AS store (READ_ONLY)")
    try:
        assert ledger.scope_digest(con, table, key)[1] == _reference_digest(con, table, key)
    finally:
        con.close()


def test_cli_verify_and_ledger_head(world, tmp_path):
    h = copy_home(world, tmp_path)
    head = runner.invoke(app, ["ledger", "head", "--home", str(h.root), "--json"])
    assert head.exit_code == 0, head.output
    root = json.loads(head.stdout)["root"]
    ok = runner.invoke(app, ["verify", "--head", root, "--home", str(h.root)])
    assert ok.exit_code == 0 and "Verified: 6 ledger entries" in ok.stdout and root in ok.stdout
    tamper(h, "UPDATE exports SET purpose = 'audit' WHERE export_no = 1")
    bad = runner.invoke(app, ["verify", "--home", str(h.root)])
    assert bad.exit_code == 3
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "exports export_no=1" in lines[0]
    assert "Traceback" not in bad.output
    as_json = runner.invoke(app, ["verify", "--json", "--home", str(h.root)])
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["ok"] is False
    usage = runner.invoke(app, ["verify", "--head", "not-a-root", "--home", str(h.root)])
    assert usage.exit_code == 2


def test_a_store_made_before_the_ledger_is_adopted_by_init(world, tmp_path):
    h = copy_home(world, tmp_path)
    tamper(h, "DROP TABLE ledger")
    with pytest.raises(Exception, match="no ledger"):
        verify(h)
    init(h)
    r = verify(h)
    assert r.ok and r.entries == 1  # one entry adopting every record as it stood
