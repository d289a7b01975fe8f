"""The evidence report (issue 6): everything an investigator hands on, in HTML,
Markdown and JSON, and an HTML page that renders in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib

import pytest
from typer.testing import CliRunner

from tracer import leaks
from tracer.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def leak(bank):
    copy = leaks.read(bank["outs"]["B"])
    path = bank["root"] / "report_leak.csv"
    leaks.write(path, leaks.drop(leaks.sample(copy, 400, seed=11), ["地址"]))
    return path


def make_report(bank, leak, name):
    out = bank["root"] / name
    r = runner.invoke(app, ["attribute", str(leak), "--report", str(out), "--home", str(bank["home"].root)])
    assert r.exit_code == 0, r.output
    return out


def test_html_report_shows_everything(bank, leak):
    page = make_report(bank, leak, "evidence.html").read_text(encoding="utf-8")
    for needle in ("report_leak.csv", "SHA-256", "examined", "utf-8", "How each column was read", "身份证号",
                   "Verdict: ACCUSED", "Marks read", "Canaries", "Membership", "How the probability was computed",
                   "Lineage record of this export", "credit review", "file sha256", "key id", "Reproduce",
                   "tracer attribute", "<svg", "accusation threshold", "entry #", "tracer verify --head"):
        assert needle in page, needle
    # no real customer value in the report: only counts, row numbers and synthetic canaries
    header, rows = leaks.read(bank["source"])
    ids = {r[header.index("身份证号")] for r in rows}
    assert not any(i in page for i in ids)


def test_markdown_and_json_reports(bank, leak):
    md = make_report(bank, leak, "evidence.md").read_text(encoding="utf-8")
    assert md.startswith("# Leak attribution") and "ACCUSED" in md and "## Reproduce" in md
    data = json.loads(make_report(bank, leak, "evidence.json").read_text(encoding="utf-8"))
    assert data["verdict"]["verdict"] == "accused"
    accused = [c for c in data["verdict"]["candidates"] if c["accused"]]
    assert [c["recipient"] for c in accused] == ["B"]
    rec = data["lineage"][accused[0]["export_id"]]
    assert rec["purpose"] == "credit review" and rec["approver"] == "Li" and len(rec["sha256"]) == 64
    assert "tracer attribute" in data["reproduce"]


def test_report_extension_is_checked(bank, leak):
    r = runner.invoke(app, ["attribute", str(leak), "--report", str(bank["root"] / "x.pdf"),
                            "--home", str(bank["home"].root)])
    assert r.exit_code == 2 and "--report must end in" in r.stderr


def _png_size_and_variety(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 2_000_000]))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_in_headless_chromium(bank, leak, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install Chromium (.ci/run does, from Debian's packages)")
        pytest.skip("Chromium not installed (CI installs Debian's chromium in .ci/run)")
    page = make_report(bank, leak, "evidence_shot.html")
    shot = tmp_path / "report.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1100,2200",
           f"--screenshot={shot}", page.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    width, height, variety = _png_size_and_variety(shot)
    assert (width, height) == (1100, 2200)
    assert variety > 20  # text, table rules, coloured bars: not a blank page
    keep = bank["root"].parent / "report-screenshot.png"
    shutil.copy(shot, keep)
