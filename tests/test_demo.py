"""`tracer demo` runs offline and shows every verdict it promises."""

from __future__ import annotations

from tracer.demo import run_demo
from tracer.home import Home


def test_demo_walks_through_export_leak_and_attribution(tmp_path):
    printed = []
    out = run_demo(Home.at(tmp_path / "home"), rows=2500, echo=printed.append)
    leak = out["leak"]
    assert leak.verdict == "accused"
    assert [c.recipient for c in leak.accused] == ["Credit review team B"]
    team_a = next(c for c in leak.candidates if c.recipient == "Credit review team A")
    assert not team_a.accused
    assert out["raw"].verdict == "source" and not out["raw"].accused
    assert out["other"].verdict == "unrelated" and not out["other"].accused
    text = "\n".join(printed)
    assert "received exactly the same rows and columns" in text
    assert "tolerance" in text


def test_a_demo_too_small_to_tell_the_story_is_a_usage_error(tmp_path):
    """--rows -5 was an internal error (ValueError) and --rows 0 failed half-way."""
    from typer.testing import CliRunner

    from tracer.cli import app

    for rows in ("-5", "0", "999"):
        r = CliRunner().invoke(app, ["demo", "--rows", rows, "--home", str(tmp_path / "home")])
        assert r.exit_code == 2 and r.stderr.strip() == ("Error: --rows must be at least 1,000: the demo filters "
                                                         "the list four ways and leaks 300 rows of one copy"), r.output
    assert not (tmp_path / "home").exists()
