"""Progress: stages reported in order, shown on a terminal, never on --json."""

from __future__ import annotations

import io
import json

from rich.console import Console
from typer.testing import CliRunner

from tracer import ExportRequest, attribute, export, leaks
from tracer.cli import app
from tracer.progress import StageProgress
from tracer.synthdata import make_customers, write_csv

EXPORT_STAGES = ["reading the source", "typing columns", "keying identifiers", "making canaries", "marking",
                 "writing the file", "recording lineage"]


def test_export_and_attribute_report_their_stages_in_order(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(600, seed=3), src)
    calls = []
    export(ExportRequest(str(src), "R", "p", str(tmp_path / "out.csv")), home=home,
           progress=lambda stage, done=None, total=None: calls.append((stage, done, total)))
    assert list(dict.fromkeys(c[0] for c in calls)) == EXPORT_STAGES
    keyed = [c for c in calls if c[0] == "keying identifiers"]
    assert keyed[-1][1:] == (600, 600)  # the bar ends full
    header, rows = leaks.read(tmp_path / "out.csv")
    leaks.write(tmp_path / "leak.csv", (header, rows[:50]))
    stages = []
    attribute(str(tmp_path / "leak.csv"), home=home, progress=lambda s, done=None, total=None: stages.append(s))
    assert stages[0] == "reading the leak" and "reading marks" in stages and stages[-1] == "scoring"


def test_stage_progress_draws_on_a_terminal_only_after_the_delay():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with StageProgress("export", console=console, delay_s=0) as p:
        p("keying identifiers", 50, 100)
        p("writing the file")
    assert "keying identifiers" in out.getvalue() or "writing the file" in out.getvalue()
    quiet = io.StringIO()
    with StageProgress("export", console=Console(file=quiet, force_terminal=True), delay_s=3600) as p:
        p("keying identifiers", 1, 2)
    assert quiet.getvalue() == "" and p.stages == ["keying identifiers"]


def test_json_output_stays_clean(home, tmp_path):
    src = tmp_path / "customers.csv"
    write_csv(make_customers(300, seed=4), src)
    r = CliRunner().invoke(app, ["export", str(src), "--recipient", "R", "--purpose", "p", "--out",
                                 str(tmp_path / "o.csv"), "--home", str(home.root), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == 300
