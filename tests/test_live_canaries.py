"""Live canaries (issue 9): the bank's own contacts planted as canaries, never shared
between exports; a sighting names the export and recipient and flags a post-retention contact."""

from __future__ import annotations

import importlib
import json
import re
from datetime import date, datetime

import duckdb
import pyarrow as pa
from typer.testing import CliRunner

from tracer import ExportRequest, attribute, export, leaks
from tracer.cli import app
from tracer.integrity import verify
from tracer.live import add_contacts, list_sightings, pool_status, record_sighting
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


def test_a_sighting_names_the_export_and_flags_a_post_retention_contact(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=51), src)
    pool = tmp_path / "bank_lines.csv"
    pool.write_text("phone,email\n" + "".join(f"1391234{i:04d},c{i}@bank.example\n" for i in range(6)))
    assert add_contacts(pool, home=home) == {"added": 12, "already": 0, "skipped": 0, "customers": 0}
    assert add_contacts(pool, home=home)["already"] == 12  # idempotent
    a = export(ExportRequest(source=str(src), recipient="Insurer", purpose="p", out=str(tmp_path / "a.csv"),
                             retain_until=date(2026, 12, 31), canaries=3, shared_canaries=False), home=home)
    b = export(ExportRequest(source=str(src), recipient="Branch", purpose="p", out=str(tmp_path / "b.csv"),
                             canaries=3, shared_canaries=False), home=home)
    header, rows_a = leaks.read(tmp_path / "a.csv")
    _, rows_b = leaks.read(tmp_path / "b.csv")
    i = header.index("手机号")
    in_a = {r[i] for r in rows_a if r[i].startswith("1391234")}
    in_b = {r[i] for r in rows_b if r[i].startswith("1391234")}
    assert len(in_a) == 3 and len(in_b) == 3 and not in_a & in_b  # no two exports share a contact
    phone = sorted(in_a)[0]
    before = record_sighting(phone=phone, at=datetime(2026, 6, 1, 9, 0), note="call", home=home)
    assert (before.export_id, before.recipient, before.breach) == (a.export_id, "Insurer", False)
    r = runner.invoke(app, ["sighting", "--phone", phone, "--at", "2027-02-01T10:30", "--note", "insurance pitch",
                            "--home", str(home.root), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    after = json.loads(r.stdout)
    assert after["export_id"] == a.export_id and after["recipient"] == "Insurer" and after["breach"] is True
    assert "retention date 2026-12-31" in after["reason"]
    assert [s.breach for s in list_sightings(home=home)] == [False, True]
    r = runner.invoke(app, ["sightings", "--home", str(home.root)], catch_exceptions=False)
    assert r.exit_code == 0 and "BREACH" in r.stdout and b.export_id not in r.stdout
    assert not verify(home).problems  # every insert is covered by the ledger


def test_a_sighting_of_an_unknown_number_is_one_line(home):
    r = runner.invoke(app, ["sighting", "--phone", "13800138000", "--home", str(home.root)], catch_exceptions=False)
    assert r.exit_code == 1 and r.stderr.strip() == "Error: this phone is not in the canary pool (tracer canary-pool add)"


# -- addresses, the column's own format, a pool that runs out ----------------------------------

def formatted_source(path, n=600, seed=52):
    """A list whose phones read '+86 138-0013-8000' and whose mailboxes are in capitals."""
    t = make_customers(n, seed=seed)
    phones = [f"+86 {p[:3]}-{p[3:7]}-{p[7:]}" for p in t.column("手机号").to_pylist()]
    t = t.set_column(t.column_names.index("手机号"), "手机号", pa.array(phones))
    t = t.append_column("邮箱", pa.array([f"KH{i:05d}@QQ.COM" for i in range(n)]))
    write_csv(t, path)
    return path


def pool_file(path, start, n, encoding="utf-8-sig"):
    """The bank's own lines, mailboxes and flats, headed in Chinese, saved as Excel would."""
    lines = ["手机号,邮箱,地址"] + [f"1391234{start + i:04d},Canary{start + i}@Bank.Example,"
                                   f"湖南省长沙市岳麓区麓山南路{start + i}号 2栋101室" for i in range(n)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def live_rows(out):
    """Rows of an export that carry a pool phone (1391234xxxx)."""
    header, rows = leaks.read(out)
    i = header.index("手机号")
    return header, [dict(zip(header, r)) for r in rows if re.sub(r"\D", "", r[i]).endswith(tuple(
        f"1391234{k:04d}" for k in range(100)))]


def test_live_canaries_carry_phone_mailbox_and_address_in_the_columns_own_format(home, tmp_path):
    src = formatted_source(tmp_path / "customers.csv")
    assert add_contacts(pool_file(tmp_path / "pool.csv", 0, 8, encoding="gb18030"), home=home) == \
        {"added": 24, "already": 0, "skipped": 0, "customers": 0}
    # The same contacts written differently are already there.
    again = tmp_path / "again.csv"
    again.write_text("phone,email,address\n+86 139-1234-0000,CANARY0@BANK.EXAMPLE,"
                     "湖南省长沙市岳麓区麓山南路０号２栋１０１室\n", encoding="utf-8")
    assert add_contacts(again, home=home) == {"added": 0, "already": 3, "skipped": 0, "customers": 0}
    outs, receipts = {}, {}
    for name in ("Insurer", "Branch"):
        outs[name] = tmp_path / f"{name}.csv"
        receipts[name] = export(ExportRequest(source=str(src), recipient=name, purpose="p", out=str(outs[name]),
                                              canaries=3, shared_canaries=False,
                                              retain_until=date(2026, 12, 31)), home=home)
        assert receipts[name].warnings == []
    seen = {}
    for name, out in outs.items():
        _, rows = live_rows(out)
        assert len(rows) == 3
        for r in rows:  # one canary carries all three, each shaped like its column
            assert re.fullmatch(r"\+86 139-1234-00\d\d", r["手机号"]), r["手机号"]
            k = int(r["手机号"][-2:])
            assert r["邮箱"] == f"CANARY{k}@BANK.EXAMPLE"
            assert r["地址"] == f"湖南省长沙市岳麓区麓山南路{k}号 2栋101室"
        seen[name] = {r["手机号"] for r in rows} | {r["邮箱"] for r in rows} | {r["地址"] for r in rows}
    assert len(seen["Insurer"]) == 9 and not seen["Insurer"] & seen["Branch"]  # no contact shared
    assert pool_status(home=home) == {k: {"in_pool": 8, "used": 6, "free": 2} for k in ("phone", "email", "address")}
    # A letter to the flat, its address written another way, names the export that held it.
    _, rows = live_rows(outs["Insurer"])
    k = int(rows[0]["手机号"][-2:])
    s = record_sighting(address=f" 湖南省长沙市 岳麓区麓山南路{k}号，２栋１０１室 ", at=datetime(2027, 1, 15),
                        note="letter", home=home)
    assert (s.kind, s.export_id, s.recipient, s.breach) == ("address", receipts["Insurer"].export_id, "Insurer", True)
    assert s.contact == rows[0]["地址"] and "retention date 2026-12-31" in s.reason
    s = record_sighting(email=f"canary{k}@bank.example", at=datetime(2026, 3, 1), home=home)
    assert (s.export_id, s.breach) == (receipts["Insurer"].export_id, False)
    r = runner.invoke(app, ["sighting", "--address", rows[1]["地址"], "--home", str(home.root), "--json"],
                      catch_exceptions=False)
    assert r.exit_code == 0 and json.loads(r.stdout)["export_id"] == receipts["Insurer"].export_id
    r = runner.invoke(app, ["sighting", "--address", "湖南省长沙市岳麓区麓山南路99号", "--home", str(home.root)])
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: this address is not in the canary pool (tracer canary-pool add)"
    r = runner.invoke(app, ["sighting", "--address", "长沙 市", "--home", str(home.root)])
    assert r.exit_code == 2 and r.stderr.strip() == "Error: --address is too short to match"
    # The live canary is a canary like any other: a leak holding it is traced by it.
    header, all_rows = leaks.read(outs["Insurer"])
    leak = leaks.write(tmp_path / "leak.csv", (["姓名", "手机号"], [[x["姓名"], x["手机号"]] for x in rows]))
    v = attribute(leak, home=home)
    assert [c.recipient for c in v.accused] == ["Insurer"] and v.accused[0].hits
    assert not verify(home).problems


def test_a_pool_that_runs_out_is_one_warning_and_the_export_still_goes_out(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=53), src)
    pool = tmp_path / "pool.csv"
    pool.write_text("phone\n13912340001\n13912340002\n", encoding="utf-8")
    add_contacts(pool, home=home)
    args = ["export", str(src), "--recipient", "Vendor", "--canaries", "3", "--home", str(home.root), "-q"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "a.csv")], catch_exceptions=False)
    assert r.exit_code == 0 and (tmp_path / "a.csv").exists()
    assert r.stderr.splitlines() == [
        "Warning: the canary pool ran out: 1 of 3 canaries carry a synthetic phone instead of the bank's own "
        "(tracer canary-pool add more; tracer canary-pool status shows what is left)"]
    _, rows = live_rows(tmp_path / "a.csv")
    assert sorted(x["手机号"] for x in rows) == ["13912340001", "13912340002"]
    b = export(ExportRequest(source=str(src), recipient="Vendor", purpose="p", out=str(tmp_path / "b.csv"),
                             canaries=3), home=home)
    assert b.warnings == ["the canary pool ran out: 3 of 3 canaries carry a synthetic phone instead of the bank's "
                          "own (tracer canary-pool add more; tracer canary-pool status shows what is left)"]
    assert live_rows(tmp_path / "b.csv")[1] == [] and b.canaries >= 3  # synthetic contacts, still canaries
    r = runner.invoke(app, ["canary-pool", "status", "--home", str(home.root)], catch_exceptions=False)
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split() == ["phone", "2", "in", "pool", "2", "planted",
                                                                     "0", "free"]


def test_no_pool_no_warning_and_an_export_without_the_column_uses_no_contact(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=54), src)
    r = export(ExportRequest(source=str(src), recipient="A", purpose="p", out=str(tmp_path / "a.csv"), canaries=3),
               home=home)
    assert r.warnings == []
    add_contacts(pool_file(tmp_path / "pool.csv", 0, 5), home=home)
    # No phone or address column exported: nothing is taken from the pool, nothing to warn about.
    r = export(ExportRequest(source=str(src), recipient="B", purpose="p", out=str(tmp_path / "b.csv"), canaries=3,
                             columns=["客户号", "姓名", "月日均存款"]), home=home)
    assert r.warnings == [] and pool_status(home=home)["phone"]["used"] == 0
    assert pool_status(home=home)["address"]["used"] == 0


def test_shared_canaries_keep_synthetic_contacts_so_a_sighting_names_one_export(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(2000, seed=55), src)
    add_contacts(pool_file(tmp_path / "pool.csv", 0, 60), home=home)
    got = []
    for name in ("A", "B", "C"):
        r = export(ExportRequest(source=str(src), recipient=name, purpose="p", out=str(tmp_path / f"{name}.csv")),
                   home=home)
        assert r.warnings == []
        got.append({x["手机号"] for x in live_rows(tmp_path / f"{name}.csv")[1]})
    con = duckdb.connect(str(home.store_path), read_only=True)
    try:
        uses, live, shared_live = con.execute("""
            SELECT count(*), count(DISTINCT (export_no, canary_no)), count(*) FILTER (WHERE k.shared_id IS NOT NULL)
            FROM contact_uses u JOIN canaries k USING (export_no, canary_no)""").fetchone()
        unique = con.execute("SELECT sum(CAST(params->>'canaries' AS INTEGER)) FROM exports").fetchone()[0]
        shared = con.execute("SELECT count(*) FROM canaries WHERE shared_id IS NOT NULL").fetchone()[0]
    finally:
        con.close()
    assert shared > 0 and shared_live == 0  # pooled canaries exist, none carries a live contact
    assert live == unique == sum(len(g) for g in got)  # every unique canary is live...
    assert uses == 2 * unique  # ...with a phone and an address (this list has no mailbox column)
    assert not (got[0] & got[1] or got[0] & got[2] or got[1] & got[2])


def test_a_contact_taken_by_an_export_that_finished_first_fails_the_slower_one(home, tmp_path, monkeypatch):
    """Exports read the pool without holding the store; the commit re-checks, so two
    exports racing for the same free contacts never both plant one."""
    export_mod = importlib.import_module("tracer.export")  # the module (tracer.export is also the function)

    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=56), src)
    add_contacts(pool_file(tmp_path / "pool.csv", 0, 4), home=home)
    real_mark = export_mod._Export._mark
    state = {"raced": False}

    def mark_after_a_rival(self):  # the store is detached here: a rival export runs to the end
        if not state["raced"]:
            state["raced"] = True
            export(ExportRequest(source=str(src), recipient="Fast", purpose="p", out=str(tmp_path / "fast.csv"),
                                 canaries=2, shared_canaries=False), home=home)
        return real_mark(self)

    monkeypatch.setattr(export_mod._Export, "_mark", mark_after_a_rival)
    r = runner.invoke(app, ["export", str(src), "--recipient", "Slow", "--canaries", "2", "--out",
                            str(tmp_path / "slow.csv"), "--home", str(home.root), "-q"])
    assert r.exit_code == 1 and r.stderr.splitlines() == [
        f"Error: {tmp_path / 'slow.csv'}: 4 live canary contact(s) were taken by an export that finished first; "
        "nothing was written: run this export again"]
    assert not (tmp_path / "slow.csv").exists() and (tmp_path / "fast.csv").exists()
    status = pool_status(home=home)
    assert status["phone"] == status["address"] == {"in_pool": 4, "used": 2, "free": 2}
    monkeypatch.setattr(export_mod._Export, "_mark", real_mark)
    r = runner.invoke(app, ["export", str(src), "--recipient", "Slow", "--canaries", "2", "--out",
                            str(tmp_path / "slow.csv"), "--home", str(home.root), "-q"])
    assert r.exit_code == 0 and r.stderr == ""  # run again: it takes the two still free
    assert {x["手机号"] for x in live_rows(tmp_path / "slow.csv")[1]}.isdisjoint(
        {x["手机号"] for x in live_rows(tmp_path / "fast.csv")[1]})
    assert not verify(home).problems


def test_a_contact_a_customer_has_or_the_filter_would_reject_is_not_planted(home, tmp_path):
    src = tmp_path / "customers.csv"
    t = make_customers(600, seed=57)
    write_csv(t, src)
    customer_phone = t.column("手机号")[10].as_py()
    pool = tmp_path / "pool.csv"
    pool.write_text(f"phone\n{customer_phone}\n13912340001\n13912340002\n13912340003\n", encoding="utf-8")
    add_contacts(pool, home=home)
    r = export(ExportRequest(source=str(src), recipient="A", purpose="p", out=str(tmp_path / "a.csv"), canaries=3,
                             shared_canaries=False), home=home)
    assert "1 pool phone(s) also belong to a customer of this source or an earlier canary: not planted" in r.notes
    header, rows = leaks.read(tmp_path / "a.csv")
    phones = [row[header.index("手机号")] for row in rows]
    assert phones.count(customer_phone) == 1  # the customer's own row only
    assert {"13912340001", "13912340002", "13912340003"} <= set(phones)
    # A filter the pool's numbers fail: the canaries keep their synthetic phones, the contacts stay free.
    add_contacts(pool_file(tmp_path / "more.csv", 10, 3), home=home)
    r = export(ExportRequest(source=str(src), recipient="B", purpose="p", out=str(tmp_path / "b.csv"), canaries=3,
                             shared_canaries=False, where="\"手机号\" NOT LIKE '1391234%'"), home=home)
    assert "3 canaries kept synthetic contacts: the pool's would fail --where" in r.notes and r.warnings == []
    assert live_rows(tmp_path / "b.csv")[1] == []
    assert pool_status(home=home)["phone"] == {"in_pool": 7, "used": 3, "free": 4}
    assert pool_status(home=home)["address"] == {"in_pool": 3, "used": 0, "free": 3}


def test_a_pool_of_customers_contacts_plants_none_of_them(home, tmp_path):
    """A steward who loads the customer list itself as the pool: its phones and
    mailboxes are left out when a recorded source holds them, and an address
    a customer of the exported source has is never planted (a letter to a
    customer's home would be a false sighting of the canary given it)."""
    src = tmp_path / "customers.csv"
    t = make_customers(2000, seed=58)
    write_csv(t, src)
    export(ExportRequest(source=str(src), recipient="A", purpose="p", out=str(tmp_path / "a.csv")), home=home)
    pool = tmp_path / "pool.csv"
    with open(pool, "w", encoding="utf-8", newline="") as f:
        f.write("phone,address\n")
        f.writelines(f"{p},\"{a}\"\n" for p, a in zip(t.column("手机号").to_pylist()[:50],
                                                      t.column("地址").to_pylist()[:50]))
        f.write("13912340001,北京市东城区银行路1号\n")
    got = add_contacts(pool, home=home)
    assert got["customers"] == 50 and got["added"] == 52  # the bank's phone, 51 addresses (50 customers')
    r = export(ExportRequest(source=str(src), recipient="B", purpose="p", out=str(tmp_path / "b.csv"), canaries=20,
                             shared_canaries=False), home=home)
    assert "50 pool address(es) are also a customer's address in this source: not planted" in r.notes
    header, rows = leaks.read(tmp_path / "b.csv")
    addresses = [row[header.index("地址")] for row in rows]
    customers = t.column("地址").to_pylist()
    assert all(addresses.count(a) == customers.count(a) for a in customers[:50])  # the customers' own rows only
    assert "北京市东城区银行路1号" in addresses
