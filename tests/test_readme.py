"""Docs that cannot drift: the README's commands, .ci/run, and examples/."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_the_two_commands():
    demo, tests = readme_commands()
    assert demo == "pip install -e . && tracer demo"
    assert tests == "pip install -e '.[test]' && pytest -q"


def test_ci_runs_exactly_the_readme_test_command():
    """Setup (system packages the tests need) may come first; the test run itself
    is the README's command, verbatim, and the script's last word."""
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1] == readme_commands()[1]
    assert "set -euo pipefail" in ci


EXPECTED = {  # each walk-through's verdict and a line it must print
    "quickstart.py": ("accused", "The leak came from Reviewer Qian"),
    "insurer_call_centre.py": ("accused", "The leak came from Anxin call centre Wuhan"),
    "guarantee_company.py": ("accused", "vendor-without-authorization] Jinqiao Microloan"),
    "insider_raw_rows.py": ("source", "no export explains them"),
}


def test_every_example_is_checked():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_examples_run(example, tmp_path, capsys):
    module = runpy.run_path(str(ROOT / "examples" / example), run_name="example")
    verdict = module["main"](tmp_path)
    out = capsys.readouterr().out
    want_verdict, want_line = EXPECTED[example]
    assert verdict == want_verdict, out
    assert want_line in out
