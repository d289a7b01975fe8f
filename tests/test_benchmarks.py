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


def test_canary_tells_benchmark_scores_every_check(tmp_path):
    stdout, r = run_bench("canary_tells.py", "--rows", 300, "--shapes", "A", "C", "--workdir", tmp_path / "w",
                          tmp_path=tmp_path)
    assert [(x["shape"], x["rows"]) for x in r["results"]] == [("A", 300), ("C", 300)]
    for result in r["results"]:
        names = [c["check"] for c in result["checks"]]
        assert len(names) >= 25 and len(set(names)) == len(names)
        assert any(n.startswith("previous row is a near twin") for n in names)
        assert any(n.startswith("another row agrees on all a canary keeps of its donor") for n in names)
        for c in result["checks"]:
            assert c["canaries"] == result["canaries"] >= 1 and c["real"] == 300
            assert 0 <= c["canaries_flagged"] <= c["canaries"] and 0 <= c["real_flagged"] <= c["real"]
            assert 0 <= c["pooled_flagged"] <= min(c["canaries_flagged"], result["pooled"])
            assert c["marker"] in ("", "weak", "TELL") and c["check"] in stdout
    assert {"commit", "dirty"} <= r["code"].keys() and r["machine"]["nproc"]
    # Canaries are written at their own keyed position, apart from the row they were made from.
    a = r["results"][0]["checks"]
    assert [c["canaries_flagged"] for c in a if c["check"].startswith("previous row is a near twin")] == [0]


def test_canary_tells_runs_the_joint_gap_checks_on_a_list_sorted_by_two_codes(tmp_path):
    stdout, r = run_bench("canary_tells.py", "--rows", 600, "--shapes", "D", "--workdir", tmp_path / "w",
                          tmp_path=tmp_path)
    (result,) = r["results"]
    names = {c["check"] for c in result["checks"]}
    assert {"a gap in both codes after the row", "neighbours more than 2 apart in both codes",
            "合同号: breaks the ascending order of its neighbours"} <= names
    order = next(c for c in result["checks"] if c["check"] == "合同号: breaks the ascending order of its neighbours")
    assert result["canaries"] >= 1 and order["canaries_flagged"] == 0  # gaps with room in both: every canary in order


def _tells_of_one_shape(tmp_path, shape: str, rows: int) -> tuple[int, dict]:
    """(canaries, checks by name) of canary_tells.py on one list of ``shape``."""
    stdout, r = run_bench("canary_tells.py", "--rows", rows, "--shapes", shape, "--workdir", tmp_path / "w",
                          tmp_path=tmp_path)
    (result,) = r["results"]
    return result["canaries"], {c["check"]: c for c in result["checks"]}


def test_canary_tells_recomputes_a_loan_books_contracts(tmp_path):
    """Shape L: a leaker recomputes each loan; a canary's contract adds up as the real rows' do."""
    canaries, checks = _tells_of_one_shape(tmp_path, "L", 1000)
    assert canaries >= 1
    for name in ("到期日期 is not 放款日期 + 期限 months within 4 days", "年利率 rare (< 1% of rows)",
                 "贷款余额 above 贷款金额, or not 0 after 到期日期"):
        assert checks[name]["canaries_flagged"] == 0, name
    assert any(n.endswith("(a canary's contract row)") for n in checks)


def test_canary_tells_recomputes_what_a_list_derives_from_birth_and_opening(tmp_path):
    """Shape E: a leaker recomputes 生肖, 星座, the age band, an occupation the
    age rules out, the email's pinyin, and sorts by customer number to see
    the opening dates rise; every canary passes each (each check flagged
    canaries before: 45%, 93%, 19%, 100%, 97-99%)."""
    canaries, checks = _tells_of_one_shape(tmp_path, "E", 3000)
    assert canaries >= 10
    for name in ("生肖 not the birth year's animal", "星座 not the birthdate's sign (a day either way)",
                 "age outside its 年龄段", "职业 the age rules out (退休 under 50, 学生 over 30)",
                 "email letters not the whole name in pinyin",
                 "opening date out of step with the customer numbers around (> 60 days)"):
        assert checks[name]["canaries_flagged"] == 0, name
