"""Exports from databases (issue 9): PostgreSQL (a real server) and SQLite,
streamed; the lineage keeps the URL without its password."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tracer import attribute, leaks
from tracer.cli import app
from tracer.synthdata import make_customers

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def pg_url():
    url = os.environ.get("TRACER_TEST_PG_URL")
    started = None
    if not url:
        try:
            url = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh")], check=True, capture_output=True,
                                 text=True, timeout=180).stdout.strip().splitlines()[-1]
            started = url.split("host=")[1].split("&")[0]
        except (subprocess.SubprocessError, OSError, IndexError) as e:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must provide PostgreSQL (.ci/run starts one): {e}")
            pytest.skip(f"no PostgreSQL server available here ({type(e).__name__}); CI starts one")
    yield url
    if started:
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        cmd = [str(bin_dir / "pg_ctl"), "-D", f"{started}/data", "stop", "-m", "fast"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, capture_output=True, timeout=60)


def load_customers(url: str, n: int, seed: int) -> list[str]:
    t = make_customers(n, seed=seed)
    cols = t.column_names
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS customers"))
        c.execute(text('CREATE TABLE customers ("客户号" text, "姓名" text, "性别" text, "身份证号" text, '
                       '"手机号" text, "地址" text, "开户网点" text, "客户等级" text, "月日均存款" numeric(14,2), '
                       '"开户日期" date)'))
        rows = [dict(zip([f"c{i}" for i in range(len(cols))], r)) for r in zip(*(t.column(c).to_pylist() for c in cols))]
        c.execute(text("INSERT INTO customers VALUES (" + ", ".join(f":c{i}" for i in range(len(cols))) + ")"), rows)
    engine.dispose()
    return cols


def with_password(url: str, password: str) -> str:
    return url.replace("tracer@", f"tracer:{password}@", 1)


def test_export_from_postgresql_and_attribute_a_leak(pg_url, home, tmp_path):
    load_customers(pg_url, 3000, seed=61)
    secret_url = with_password(pg_url, "s3cret-pw")
    outs = {}
    for name, args in (("A", ["--table", "customers"]),
                       ("B", ["--query", 'SELECT * FROM customers WHERE "月日均存款" >= 1000'])):
        outs[name] = tmp_path / f"{name}.csv"
        r = runner.invoke(app, ["export", secret_url, *args, "--recipient", name, "--purpose", "db export",
                                "--out", str(outs[name]), "--home", str(home.root)])
        assert r.exit_code == 0, r.output
        assert "月日均存款:" in r.stdout  # numeric(14,2) arrives as text with its cents and gets marked
    header, rows = leaks.read(outs["A"])
    assert header[3] == "身份证号" and all(len(r[3]) == 18 for r in rows)
    leak = leaks.write(tmp_path / "leak.csv", leaks.sample(leaks.read(outs["B"]), 80, seed=1))
    v = attribute(leak, home=home)
    assert [c.recipient for c in v.accused] == ["B"]
    listed = json.loads(runner.invoke(app, ["lineage", "exports", "--json", "--home", str(home.root)]).stdout)
    assert all("s3cret-pw" not in d["source"] and "***" in d["source"] for d in listed)
    assert b"s3cret-pw" not in home.store_path.read_bytes()


def test_export_from_sqlite(home, tmp_path):
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    load_customers(url, 500, seed=62)
    out = tmp_path / "s.csv"
    r = runner.invoke(app, ["export", url, "--query", "SELECT * FROM customers", "--recipient", "S",
                            "--purpose", "p", "--out", str(out), "--home", str(home.root)])
    assert r.exit_code == 0, r.output
    assert len(leaks.read(out)[1]) >= 500
    # Which rows of the database went out is on record: the query (its literals redacted), or the table.
    r = runner.invoke(app, ["export", url, "--query", "SELECT * FROM customers WHERE 手机号 <> '13800138000'",
                            "--recipient", "S", "--purpose", "p", "--out", str(tmp_path / "q.csv"),
                            "--home", str(home.root)])
    listed = json.loads(runner.invoke(app, ["lineage", "exports", "--json", "--home", str(home.root)]).stdout)
    assert r.exit_code == 0, r.output
    assert listed[0]["source_query"] == "SELECT * FROM customers" and listed[0]["source_table"] is None
    assert "13800138000" not in listed[1]["source_query"] and "<phone>" in listed[1]["source_query"]
    r = runner.invoke(app, ["export", url, "--table", "customers", "--recipient", "S", "--purpose", "p",
                            "--out", str(tmp_path / "t.csv"), "--home", str(home.root)])
    listed = json.loads(runner.invoke(app, ["lineage", "exports", "--json", "--home", str(home.root)]).stdout)
    assert listed[-1]["source_table"] == "customers"
    assert "(table customers)" in runner.invoke(app, ["lineage", "exports", "--home", str(home.root)]).stdout


def test_database_errors_are_one_line(home, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).connect().close()  # an empty database
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    r = runner.invoke(app, ["export", missing, "--table", "t", "--recipient", "S", "--out", str(tmp_path / "x.csv"),
                            "--home", str(home.root)])
    assert r.exit_code == 1 and "no such SQLite database file" in r.stderr
    assert not (tmp_path / "missing.db").exists()  # SQLite would have made one
    for args, needle in ((["--table", "nosuch"], "cannot read from the database"),
                         ([], "exactly one of --table or --query")):
        r = runner.invoke(app, ["export", url, *args, "--recipient", "S", "--out", str(tmp_path / "x.csv"),
                                "--home", str(home.root)])
        assert r.exit_code in (1, 2) and needle in r.stderr, r.output
        assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1
    # A driver that is not installed is named (the redaction used to leave "No module named '…'").
    import importlib.util

    if importlib.util.find_spec("pymssql") is None:
        r = runner.invoke(app, ["export", "mssql+pymssql://u:secret@localhost/db", "--table", "t", "--recipient", "S",
                                "--out", str(tmp_path / "x.csv"), "--home", str(home.root)])
        assert r.exit_code == 1 and r.stderr.strip() == ("Error: mssql+pymssql://u:***@localhost/db: cannot use this "
                                                         "database URL: its driver, Python module 'pymssql', is not "
                                                         "installed"), r.output


def test_a_blob_column_is_written_as_duckdb_writes_a_blob(home, tmp_path):
    """Bytes that are not text (a scanned signature, a hash) are exported as
    DuckDB's \\xFF escapes, as a Parquet source's binary column is, not an
    internal error; bytes that are UTF-8 text stay text."""
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    load_customers(url, 300, seed=63)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE customers ADD COLUMN sig BLOB"))
        conn.execute(text("ALTER TABLE customers ADD COLUMN note BLOB"))
        conn.execute(text("UPDATE customers SET sig = X'FF00D8', note = CAST('备注' AS BLOB)"))
    out = tmp_path / "b.csv"
    r = runner.invoke(app, ["export", url, "--table", "customers", "--recipient", "S", "--purpose", "p",
                            "--out", str(out), "--home", str(home.root)])
    assert r.exit_code == 0, r.output
    header, rows = leaks.read(out)
    sig, note = header.index("sig"), header.index("note")
    assert len(rows) >= 300 and all(row[sig] == "\\xFF\\x00\\xD8" and row[note] == "备注" for row in rows)
