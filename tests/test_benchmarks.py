"""The benchmarks run from one command each and print their ratios (issue 8).

Correctness only, at toy sizes: every side ran, the ratios are the ones the
medians give, the attribution benchmark's verdict names the exporter. The
timings themselves are never asserted (README: measured, not tested).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(script: str, *args, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / f"{script}.json"
    r = subprocess.run([sys.executable, str(BENCH / script), *map(str, args), "--json", str(out)],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout, json.loads(out.read_text())


def test_export_benchmark_prints_its_ratios(tmp_path):
    stdout, r = run_bench("export_speed.py", "--rows", 3000, "--reps", 1, "--workdir", tmp_path / "w",
                          tmp_path=tmp_path)
    for side in ("baseline", "floor", "tracer"):
        assert len(r[side]["runs"]) == 1 and r[side]["median_s"] > 0 and r[side]["peak_rss_mib"] > 0
    assert r["ratio"] == round(r["tracer"]["median_s"] / r["baseline"]["median_s"], 2)
    assert r["floor_ratio"] == round(r["floor"]["median_s"] / r["baseline"]["median_s"], 2)
    assert r["tracer_over_floor"] == round(r["tracer"]["median_s"] / r["floor"]["median_s"], 2)
    assert r["exported_rows"] > 3000  # the rows and their canaries, as the store lists them
    assert r["store_bytes"] > r["store_bytes_empty"]
    assert "tracer/base" in stdout and f"{r['ratio']:.2f}x" in stdout and "3,000" in stdout


def test_attribution_benchmark_prints_its_ratio_and_verdict(tmp_path):
    stdout, r = run_bench("attribution_speed.py", "--exports", 4, "--rows-per-export", 1500, "--source-rows", 2000,
                          "--leak-rows", 400, "--reps", 1, "--work", tmp_path / "w", tmp_path=tmp_path)
    assert r["built"]["exports"] == 4 and r["built"]["leak_rows"] == 400
    assert r["ratio"] == round(r["tracer"]["median_s"] / r["baseline"]["median_s"], 2)
    assert r["verdict"] == "accused" and "accused: A" in stdout
