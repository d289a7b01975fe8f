"""The command-line contract (issue 3), through typer's CliRunner."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from tracer import leaks
from tracer.cli import app
from tracer.synthdata import make_customers, write_csv

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def world(tmp_path):
    home = tmp_path / "home"
    src = tmp_path / "customers.csv"
    write_csv(make_customers(1500, seed=21), src)
    r = run("init", "--home", home)
    assert r.exit_code == 0, r.output
    return {"home": home, "src": src, "tmp": tmp_path}


def test_init_is_idempotent_and_keeps_the_key_apart(tmp_path):
    home = tmp_path / "h"
    first = run("init", "--home", home, "--json")
    assert first.exit_code == 0
    info = json.loads(first.stdout)
    key_file = info["key_file"]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert os.path.dirname(key_file) != os.path.dirname(info["store"])
    again = json.loads(run("init", "--home", home, "--json").stdout)
    assert again["key_id"] == info["key_id"] and again["created"] is False
    # The store records the key id, never the key.
    secret = open(key_file).read().split()[-1]
    assert secret.encode() not in open(info["store"], "rb").read()


def test_export_keeps_columns_writes_bom_and_reports_changes(world):
    out = world["tmp"] / "call.csv"
    r = run("export", world["src"], "--recipient", "Call centre", "--purpose", "insurance outreach",
            "--out", out, "--approver", "Li", "--columns", "手机号,姓名,月日均存款", "--where", '"月日均存款" >= 50000',
            "--home", world["home"])
    assert r.exit_code == 0, r.output
    assert "New recipient registered: Call centre" in r.stdout
    assert "月日均存款:" in r.stdout and "tolerance ±1.00" in r.stdout
    assert "canaries" in r.stdout
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode())
    header, rows = leaks.read(out)
    assert header == ["姓名", "手机号", "月日均存款"]  # the source's order, not the option's
    assert all(float(r[2]) >= 50000 for r in rows)  # canaries and marks respect the filter
    again = run("export", world["src"], "--recipient", "Call centre", "--purpose", "p", "--out",
                world["tmp"] / "call2.csv", "--home", world["home"])
    assert "New recipient registered" not in again.stdout


def test_lineage_exports_json(world):
    for name in ("A", "B"):
        assert run("export", world["src"], "--recipient", name, "--purpose", "review", "--approver", "Zhang",
                   "--out", world["tmp"] / f"{name}.csv", "--home", world["home"]).exit_code == 0
    r = run("lineage", "exports", "--json", "--home", world["home"])
    data = json.loads(r.stdout)
    assert [d["recipient"] for d in data] == ["A", "B"]
    for d in data:
        for field in ("export_id", "recipient", "purpose", "approver", "rows", "columns", "created_at", "sha256"):
            assert field in d
        import hashlib
        assert d["sha256"] == hashlib.sha256(open(world["tmp"] / f"{d['recipient']}.csv", "rb").read()).hexdigest()
    only_b = json.loads(run("lineage", "exports", "--recipient", "B", "--json", "--home", world["home"]).stdout)
    assert [d["recipient"] for d in only_b] == ["B"]


def test_attribute_json_is_clean_and_names_the_leaker(world):
    for name in ("A", "B"):
        run("export", world["src"], "--recipient", name, "--purpose", "review", "--out",
            world["tmp"] / f"{name}.csv", "--home", world["home"])
    leak = world["tmp"] / "leak.csv"
    leaks.write(leak, leaks.drop(leaks.sample(leaks.read(world["tmp"] / "B.csv"), 60, seed=1), ["地址"]))
    r = run("attribute", leak, "--json", "--home", world["home"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)  # stdout holds only JSON
    assert data["verdict"] == "accused"
    first = data["candidates"][0]
    assert first["recipient"] == "B" and first["accused"] is True and first["p_value"] <= 1e-6
    assert {"recipient", "export_id", "accused", "p_value", "evidence"} <= set(first)
    assert not any(c["accused"] for c in data["candidates"] if c["recipient"] == "A")
    text = run("attribute", leak, "--home", world["home"])
    assert "VERDICT: ACCUSED" in text.stdout and "false-accusation probability" in text.stdout


@pytest.mark.parametrize("args,needle", [
    (["--columns", "姓名,nosuch"], "unknown column 'nosuch'"),
    (["--where", "nosuch > 3"], "--where does not apply"),
    (["--where", "CAST(姓名 AS INTEGER) > 3"], "--where cannot be evaluated"),
])
def test_export_errors_are_one_line(world, args, needle):
    out = world["tmp"] / "x.csv"
    r = run("export", world["src"], "--recipient", "R", "--purpose", "p", "--out", out, "--home", world["home"], *args)
    assert r.exit_code == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0]
    assert "Traceback" not in r.output
    names = {row[1] for row in leaks.read(world["src"])[1]}
    assert not any(n in r.stderr for n in names)  # never a customer value in an error
    assert not out.exists()
    listed = json.loads(run("lineage", "exports", "--json", "--home", world["home"]).stdout)
    assert listed == []


def test_missing_files_are_one_line_errors(world):
    r = run("attribute", world["tmp"] / "nope.csv", "--home", world["home"])
    assert r.exit_code == 1 and "nope.csv" in r.stderr and "no such file" in r.stderr
    r = run("export", world["tmp"] / "nope.csv", "--recipient", "R", "--out", world["tmp"] / "o.csv",
            "--home", world["home"])
    assert r.exit_code == 1 and "no such file" in r.stderr


def test_commands_need_an_initialised_home(tmp_path):
    r = run("lineage", "exports", "--home", tmp_path / "none")
    assert r.exit_code == 1 and "tracer init" in r.stderr


def all_commands(group=None, prefix=()) -> list[list[str]]:
    """Every leaf command of the CLI, found by walking click's command tree."""
    import typer.main

    group = group or typer.main.get_command(app)
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += all_commands(cmd, (*prefix, name))
        else:
            out.append([*prefix, name])
    return out


def test_every_command_has_help_with_an_example():
    commands = all_commands()
    assert {("verify",), ("ledger", "head"), ("key", "rotate"), ("export",)} <= {tuple(c) for c in commands}
    for cmd in commands:
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Example:" in r.stdout, cmd


def test_an_interrupt_or_a_closed_pipe_is_not_an_internal_error(capsys):
    """Ctrl-C inside a DuckDB query arrives as its InterruptException (or a
    RuntimeError 'Query interrupted'), not as a defect of the file; a reader
    that closed the pipe (`| head`) ends the command quietly."""
    import duckdb
    import pytest

    from tracer.cli.common import handles_errors

    def raising(e):
        @handles_errors
        def command():
            raise e
        return command

    import typer

    for e in (KeyboardInterrupt(), duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
              RuntimeError("Query interrupted")):
        with pytest.raises(typer.Exit) as stop:
            raising(e)()
        assert stop.value.exit_code == 130 and capsys.readouterr().err.strip() == "Error: interrupted"
    with pytest.raises(SystemExit) as stop:
        raising(BrokenPipeError())()
    assert stop.value.code == 141 and capsys.readouterr().err == ""


def test_an_interrupt_while_reading_is_not_blamed_on_the_file(tmp_path, monkeypatch):
    import duckdb
    import pytest

    from forensics import readers

    src = tmp_path / "a.csv"
    src.write_text("a,b,c\n1,2,3\n", encoding="utf-8")

    def interrupted(*a, **k):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(readers, "_read_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        readers.read_table(duckdb.connect(), src, "t")
