"""How much does fingerprinting cost over a plain copy of the same list?

Why: a steward decides whether to route every customer-list export through
``tracer export`` by what it costs next to what they do today, which is
roughly "read the CSV, write a CSV". This benchmark answers that with one
command on a realistic synthetic bank list (10 text columns, UTF-8 with BOM,
made by :mod:`tracer.synthdata`):

* baseline: DuckDB copies the CSV to CSV, every column read as text;
* floor:    DuckDB loads the CSV into a table in file order, then writes
            the table: the I/O alone of any export that holds the whole
            list before it writes (tracer types each column from all its
            values before it marks a cell), so "tracer/floor" is what
            tracer's own work costs;
* tracer:   ``tracer export`` of the same file (typing, identity digests,
            marks, canaries, the CSV write and the lineage record).

Both sides run as whole processes, interpreter start and imports included,
because that is what a user waits for. It reports median and minimum wall
time over the repetitions, each child's peak RSS, and how much the lineage
store grows per exported row. ``--json`` writes the same figures plus the
machine description (for README tables); ``--profile`` instead runs one
export in-process under cProfile to show which stages dominate.

    python bench/export_speed.py --rows 1000000
    python bench/export_speed.py --rows 200000 --reps 5 --json bench/out/200k.json
    python bench/export_speed.py --rows 1000000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchinfo import code_version, machine, work_dir, write_json  # this folder: the scripts run as plain scripts

BENCH_DIR = Path(__file__).resolve().parent
RECIPIENT, PURPOSE = "bench", "benchmark"


@dataclass
class Run:
    seconds: float  # wall clock, spawn to exit
    cpu_seconds: float  # user + system, all threads: less sensitive to other load on the machine
    peak_rss_mib: float


@dataclass
class Side:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def min_s(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(r.peak_rss_mib for r in self.runs)

    def summary(self) -> dict:
        return {"median_s": round(self.median_s, 3), "min_s": round(self.min_s, 3),
                "median_cpu_s": round(self.median_cpu_s, 3),
                "peak_rss_mib": round(self.peak_rss_mib, 1),
                "runs": [asdict(r) for r in self.runs]}


# -- processes ----------------------------------------------------------------

def tracer_exe() -> Path:
    """The ``tracer`` console script of the venv running this benchmark."""
    exe = Path(sys.executable).parent / ("tracer.exe" if os.name == "nt" else "tracer")
    if not exe.exists():
        sys.exit(f"no tracer console script beside {sys.executable}; install tracer in this environment "
                 f"(pip install -e .)")
    return exe


# Runs one command and reports on it from inside a small, fresh interpreter.
# Why not wait4 on the child directly: on Linux a child's ru_maxrss starts
# from the high-water RSS of the process it was forked/spawned from (exec
# records the old address space's peak), so children of this benchmark, which
# holds a million-row Arrow table, would all report this process's peak. The
# launcher is ~10 MiB, far below any Python+DuckDB child, so the figure is the
# child's own. Why not `/usr/bin/time -v`: it is missing from slim containers
# and macOS, and GNU and BSD print different formats. RUSAGE_CHILDREN deltas
# do not work either: its ru_maxrss is a maximum over all reaped children.
# The launcher times spawn to reap, so the child's interpreter start and
# imports count (as they do for a user) but the launcher's own start does not.
_LAUNCHER = """
import json, os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t0
with open(result, "w") as f:
    json.dump({"seconds": seconds, "exit": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, f)
"""


def run_measured(argv: list[str], log: Path) -> Run:
    """Run ``argv`` (absolute program path) to completion: its wall time and its own peak RSS."""
    result = log.with_suffix(".rusage.json")
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(result), *argv],
                       stdout=out, stderr=subprocess.STDOUT, check=True)
    r = json.loads(result.read_text())
    if r["exit"] != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv[:2])} exited with {r['exit']}:\n{tail}")
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    kib = r["maxrss"] / 1024 if sys.platform == "darwin" else r["maxrss"]
    return Run(seconds=round(r["seconds"], 3), cpu_seconds=round(r["cpu"], 3), peak_rss_mib=round(kib / 1024, 1))


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def baseline_argv(src: Path, out: Path) -> list[str]:
    sql = (f"COPY (SELECT * FROM read_csv({sql_str(str(src))}, all_varchar=true, header=true)) "
           f"TO {sql_str(str(out))} (FORMAT csv, HEADER true)")
    return [sys.executable, "-c", f"import duckdb; duckdb.sql({sql!r})"]


def floor_argv(src: Path, out: Path) -> list[str]:
    """Plain DuckDB doing the I/O any export that holds the whole list before
    writing it must do (tracer types a column from all its values before it
    marks a cell): load the CSV into a table in file order, then write the
    table out. What tracer adds is measured against this too."""
    load = (f"CREATE TEMP TABLE t AS SELECT * FROM read_csv({sql_str(str(src))}, all_varchar=true, header=true)")
    copy = f"COPY t TO {sql_str(str(out))} (FORMAT csv, HEADER true)"
    return [sys.executable, "-c", f"import duckdb; con = duckdb.connect(); con.execute({load!r}); con.execute({copy!r})"]


def tracer_argv(src: Path, out: Path, home: Path) -> list[str]:
    return [str(tracer_exe()), "export", str(src), "--recipient", RECIPIENT, "--purpose", PURPOSE,
            "--out", str(out), "--home", str(home), "--quiet"]


# -- the benchmark --------------------------------------------------------------

def make_source(rows: int, seed: int, path: Path) -> float:
    from tracer import synthdata

    t0 = time.perf_counter()
    synthdata.write_csv(synthdata.make_customers(rows, seed=seed), path)
    return time.perf_counter() - t0


def store_bytes(home: Path) -> int:
    """Size of the lineage store on disk (with its WAL, should one be left)."""
    files = [home / "lineage.duckdb", home / "lineage.duckdb.wal"]
    return sum(f.stat().st_size for f in files if f.exists())


def exported_rows(home: Path) -> int:
    """Rows written to export files so far (customer rows plus canaries)."""
    from tracer import list_exports

    return sum(e["rows"] + e["canaries"] for e in list_exports(home=home))


def time_sides(src: Path, work: Path, home: Path, reps: int) -> tuple[Side, Side, Side]:
    baseline, floor, tracer = Side("baseline"), Side("floor"), Side("tracer")
    out = work / "out.csv"
    for i in range(reps):
        # Alternate the two sides so drift (thermal, cache, neighbours) hits both alike.
        for side, argv in ((baseline, baseline_argv(src, out)), (floor, floor_argv(src, out)),
                           (tracer, tracer_argv(src, out, home))):
            out.unlink(missing_ok=True)
            run = run_measured(argv, work / f"{side.name}-{i}.log")
            side.runs.append(run)
            print(f"  rep {i + 1}/{reps} {side.name:8s} {run.seconds:7.2f} s wall {run.cpu_seconds:7.2f} s CPU "
                  f"{run.peak_rss_mib:7.1f} MiB", flush=True)
    out.unlink(missing_ok=True)
    return baseline, floor, tracer


def load_average() -> float | None:
    """1-minute load average: other work on the machine inflates wall times."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def print_table(r: dict) -> None:
    b, f, t = r["baseline"], r["floor"], r["tracer"]
    head = ("rows", "baseline s", "floor s", "tracer s", "tracer/base", "CPU ratio", "floor/base", "tracer/floor",
            "base MiB", "tracer MiB", "store B/row")
    vals = (f"{r['rows']:,}", f"{b['median_s']:.2f}", f"{f['median_s']:.2f}", f"{t['median_s']:.2f}",
            f"{r['ratio']:.2f}x", f"{r['cpu_ratio']:.2f}x", f"{r['floor_ratio']:.2f}x", f"{r['tracer_over_floor']:.2f}x",
            f"{b['peak_rss_mib']:.0f}", f"{t['peak_rss_mib']:.0f}", f"{r['store_bytes_per_row']:.1f}")
    widths = [max(len(h), len(v)) for h, v in zip(head, vals)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    print("  ".join(v.rjust(w) for v, w in zip(vals, widths)))
    m = r["machine"]
    print(f"\nmedian of {r['reps']} (min: baseline {b['min_s']:.2f} s, tracer {t['min_s']:.2f} s); "
          f"peak RSS is the largest over the runs; store {r['store_bytes']:,} B over "
          f"{r['exported_rows']:,} exported rows ({r['store_bytes_empty']:,} B when empty); floor: DuckDB loads "
          "the CSV into a table in file order and writes the table (the I/O of any export that reads the whole "
          "list before writing it)")
    print(f"machine: {m['nproc']} CPUs, {m['mem_total_gib']} GiB, Python {m['python']}, duckdb {m['duckdb']}; "
          f"load average {r['load_before']} before, {r['load_after']} after; "
          f"code {r['code']['commit']}{' + uncommitted changes' if r['code']['dirty'] else ''}")
    if max(x or 0 for x in (r["load_before"], r["load_after"])) > 0.5 * (m["nproc"] or 1):
        print("warning: the machine was busy with other work; wall times are inflated, "
              "the CPU ratio is the steadier figure")


def benchmark(args: argparse.Namespace, work: Path, src: Path) -> dict:
    home = work / "home"
    run_measured([str(tracer_exe()), "init", "--home", str(home)], work / "init.log")
    empty = store_bytes(home)
    load_before = load_average()
    baseline, floor, tracer = time_sides(src, work, home, args.reps)
    load_after = load_average()
    size, rows = store_bytes(home), exported_rows(home)
    return {"rows": args.rows, "seed": args.seed, "reps": args.reps,
            "source_bytes": src.stat().st_size,
            "baseline": baseline.summary(), "floor": floor.summary(), "tracer": tracer.summary(),
            "ratio": round(tracer.median_s / baseline.median_s, 2),
            "floor_ratio": round(floor.median_s / baseline.median_s, 2),
            "tracer_over_floor": round(tracer.median_s / floor.median_s, 2),
            "cpu_ratio": round(tracer.median_cpu_s / baseline.median_cpu_s, 2),
            "store_bytes": size, "store_bytes_empty": empty, "exported_rows": rows,
            "store_bytes_per_row": round(size / rows, 2) if rows else None,
            "load_before": load_before, "load_after": load_after, "code": code_version(), "machine": machine()}


def profile(work: Path, src: Path, top: int = 25) -> None:
    """One in-process export under cProfile: the top entries, then the pipeline stages."""
    import tracer

    home = work / "home-profile"
    tracer.init(home)
    req = tracer.ExportRequest(source=str(src), recipient=RECIPIENT, purpose=PURPOSE, out=str(work / "out.csv"))
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    receipt = tracer.export(req, home=home)
    prof.disable()
    wall = time.perf_counter() - t0
    print(f"\nexport of {receipt.rows:,} rows + {receipt.canaries} canaries: {wall:.2f} s under cProfile")

    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(10)  # self time: which calls themselves burn it
    print(buf.getvalue())

    # The stages are the _Export methods that _Export.run calls (see tracer/export.py);
    # their cumulative times, in pipeline order, say where an export goes.
    table = stats.stats  # type: ignore[attr-defined]  # {(file, line, func): (cc, nc, tt, ct, callers)}
    in_export = os.path.join("tracer", "export.py")
    runs = {f for f in table if f[0].endswith(in_export) and f[2] == "run"}
    stages = sorted((f[1], f[2], ct) for f, (_, _, _, ct, callers) in table.items()
                    if f[0].endswith(in_export) and runs & set(callers))
    print("stages of _Export.run (cumulative, in pipeline order):")
    for _, func, cum in stages:
        print(f"  {func:20s} {cum:7.2f} s  {cum / wall:6.1%}")
    print("(read_table, the source load, is the rest of run; cProfile slows Python-heavy stages more than SQL)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the synthetic list (default 1,000,000)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each side (default 3)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic list")
    p.add_argument("--workdir", type=Path, help="work directory (kept); default a temp dir under bench/out/")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--profile", action="store_true",
                   help="instead of timing, run one export in-process under cProfile")
    args = p.parse_args(argv)
    if args.rows < 1 or args.reps < 1:
        p.error("--rows and --reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with work_dir(args.workdir, "export_speed-", keep=args.keep) as work:
        src = work / "customers.csv"
        seconds = make_source(args.rows, args.seed, src)
        print(f"source: {args.rows:,} rows, {src.stat().st_size / 2 ** 20:.1f} MiB, made in {seconds:.1f} s",
              flush=True)
        if args.profile:
            profile(work, src)
            return 0
        result = benchmark(args, work, src)
        print_table(result)
        if args.json:
            write_json(args.json, result)
        return 0


if __name__ == "__main__":
    sys.exit(main())
