"""Live canaries (issue 9): the bank's own contacts planted as canaries, never shared
between exports; a sighting names the export and recipient and flags a post-retention contact."""

from __future__ import annotations

import json
from datetime import date, datetime

from typer.testing import CliRunner

from tracer import ExportRequest, export, leaks
from tracer.cli import app
from tracer.integrity import verify
from tracer.live import add_contacts, list_sightings, record_sighting
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


def test_a_sighting_names_the_export_and_flags_a_post_retention_contact(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=51), src)
    pool = tmp_path / "bank_lines.csv"
    pool.write_text("phone,email\n" + "".join(f"1391234{i:04d},c{i}@bank.example\n" for i in range(6)))
    assert add_contacts(pool, home=home) == {"added": 12, "already": 0, "skipped": 0}
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
