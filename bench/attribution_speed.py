"""How long does attributing a leak take against a bank-sized lineage store?

Why: an investigator runs ``tracer attribute`` against years of exports. This
benchmark builds a store of ``--exports`` exports of ``--rows-per-export``
rows each (1,000 x 100,000 = 100 million export rows by default) and times,
as whole processes on the same machine:

* baseline: plain DuckDB reads the leak file into a table (the same I/O
  tracer starts with), opens the same store and hash-joins the leak's row
  keys (precomputed, in a Parquet file) against the same ``export_rows``
  table -- the least any attribution must do;
* tracer: ``tracer attribute leak.csv --json`` on the leak itself (reading
  and typing the file, keyed digests, linkage, canaries, marks, scoring).

The store: a synthetic source of ``--source-rows`` customers
(tracer.synthdata), two real exports of all of it made by ``tracer export``
(the leak is a sample of the first), and the rest added directly in SQL as
exports of random subsets of the source, with the first export's column and
mark parameters but their own export ids (so their keys, and so their marks,
are independent: innocent exports). Those rows bypass the ledger, so
``tracer verify`` would flag this store; attribution does not read the
ledger. It prints median and minimum times, the ratio, peak RSS, and the
store's bytes per export row.

    python bench/attribution_speed.py                         # the full size (about a minute to build)
    python bench/attribution_speed.py --exports 50 --source-rows 200000 --rows-per-export 20000 --leak-rows 20000
    python bench/attribution_speed.py --work bench/out/attr-store  # build there once, reuse it on later runs

``--work DIR`` keeps the built store in DIR and reuses it when DIR already
holds one built with the same sizes and seed (``built.json`` records them), so
a change to the attribution code can be timed again without a rebuild.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchinfo import OUT_ROOT as DEFAULT_OUT_ROOT, code_version, machine  # noqa: E402
from export_speed import Side, run_measured, sql_str, tracer_exe  # noqa: E402


def build_store(work: Path, args) -> dict:
    import duckdb

    from canary.kinds import Kind
    from canary.prf import identity_key
    from forensics.normalize import identity_label, normalise
    from tracer import ExportRequest, Home, export, init, leaks, synthdata

    home = Home.at(work / "home")
    init(home)
    src = work / "source.csv"
    t0 = time.perf_counter()
    synthdata.write_csv(synthdata.make_customers(args.source_rows, seed=args.seed), src)
    for name in ("A", "B"):
        export(ExportRequest(str(src), name, "benchmark", str(work / f"{name}.csv")), home=home)
    header, rows = leaks.read(work / "A.csv")
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(rows), size=min(args.leak_rows, len(rows)), replace=False)
    leak_rows = [rows[i] for i in sorted(pick)]
    leaks.write(work / "leak.csv", (header, leak_rows))
    # The leak's row keys, as the baseline gets them (the ID number is the row key here).
    ikey = identity_key(home.load_key())
    idcol = header.index("身份证号")
    keys = [ikey.digest64(identity_label(Kind.IDNO), normalise(Kind.IDNO, r[idcol])) for r in leak_rows
            if normalise(Kind.IDNO, r[idcol])]
    pq.write_table(pa.table({"row_key": pa.array(keys, pa.uint64())}), work / "leak_keys.parquet")

    con = duckdb.connect(str(home.root / "lineage.duckdb"))
    try:
        all_keys = con.execute("SELECT DISTINCT row_key FROM export_rows WHERE export_no = 1").fetchnumpy()["row_key"]
        first = con.execute("SELECT max(export_no) FROM exports").fetchone()[0] + 1
        rid0 = con.execute("SELECT max(recipient_id) FROM recipients").fetchone()[0] + 1
        n_syn = max(0, args.exports - 2)
        con.execute("BEGIN")
        con.execute(f"""INSERT INTO recipients (recipient_id, name, created_at)
            SELECT {rid0} + i, 'synthetic ' || i, now()::TIMESTAMP FROM range({n_syn}) t(i)""")
        con.execute(f"""INSERT INTO exports SELECT e.* REPLACE ({first} + i AS export_no,
                'ex-syn' || lpad(i::VARCHAR, 6, '0') AS export_id, {rid0} + i AS recipient_id,
                {args.rows_per_export} AS rows)
            FROM exports e, range({n_syn}) t(i) WHERE e.export_no = 1""")
        per = min(args.rows_per_export, len(all_keys))
        batch = []
        for i in range(n_syn):
            take = all_keys[rng.choice(len(all_keys), size=per, replace=False)]
            batch.append(pa.table({"export_no": pa.array(np.full(per, first + i, np.int32)),
                                   "row_key": pa.array(take, pa.uint64())}))
            if len(batch) == 20 or i == n_syn - 1:
                part = pa.concat_tables(batch)  # noqa: F841 - read by name below
                con.execute("INSERT INTO export_rows SELECT * FROM part")
                batch = []
        con.execute("COMMIT")
        export_rows = con.execute("SELECT count(*) FROM export_rows").fetchone()[0]
        exports = con.execute("SELECT count(*) FROM exports").fetchone()[0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    store = home.root / "lineage.duckdb"
    return {"home": home.root, "exports": exports, "export_rows": export_rows, "leak_rows": len(leak_rows),
            "store_bytes": store.stat().st_size, "build_s": round(time.perf_counter() - t0, 1)}


SIZES = ("exports", "rows_per_export", "source_rows", "leak_rows", "seed")


def reuse_or_build(work: Path, args) -> dict:
    """The store already built in ``work`` with these sizes, else a new one
    (a folder holding a different or half-finished build is refused, never
    overwritten)."""
    record = work / "built.json"
    wanted = {k: getattr(args, k) for k in SIZES}
    if record.exists():
        saved = json.loads(record.read_text(encoding="utf-8"))
        if saved.get("sizes") != wanted:
            raise SystemExit(f"{work} holds a store built with {saved.get('sizes')}, not {wanted}: "
                             "choose another --work folder")
        print("reusing the store built there", flush=True)
        return saved["built"]
    if any(work.iterdir()):
        raise SystemExit(f"{work} is not empty and holds no finished build: choose another --work folder")
    built = build_store(work, args)
    built = {k: (str(v) if isinstance(v, Path) else v) for k, v in built.items()}
    record.write_text(json.dumps({"sizes": wanted, "built": built}, indent=2), encoding="utf-8")
    return built


def baseline_argv(store: Path, keys: Path, leak: Path) -> list[str]:
    sql = (f"SELECT count(*), count(DISTINCT r.export_no) FROM read_parquet({sql_str(str(keys))}) l "
           f"JOIN export_rows r USING (row_key)")
    load = (f"CREATE TEMP TABLE leak AS SELECT * FROM read_csv({sql_str(str(leak))}, all_varchar = true, "
            "header = true)")
    code = (f"import duckdb; con = duckdb.connect({str(store)!r}, read_only=True); "
            f"con.execute('SET enable_progress_bar = false'); con.execute({load!r}); "
            f"print(con.execute({sql!r}).fetchall())")
    return [sys.executable, "-c", code]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exports", type=int, default=1000)
    p.add_argument("--rows-per-export", type=int, default=100_000)
    p.add_argument("--source-rows", type=int, default=1_000_000)
    p.add_argument("--leak-rows", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--work", type=Path, help="build the store here (kept), or reuse the one already built here")
    args = p.parse_args(argv)
    DEFAULT_OUT_ROOT.mkdir(parents=True, exist_ok=True)
    if args.work:
        args.keep = True
        work = args.work.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="attribution_speed-", dir=DEFAULT_OUT_ROOT))
    print(f"work dir {work}", flush=True)
    built = reuse_or_build(work, args)
    # Byte-compile tracer's own modules, as a regular (non-editable) install
    # does: otherwise, with PYTHONDONTWRITEBYTECODE set, every timed start
    # compiles them again (~0.2 s) while DuckDB's are compiled already.
    import compileall
    root = Path(__file__).resolve().parent.parent
    for package in ("canary", "forensics", "tracer"):
        compileall.compile_dir(str(root / package), quiet=1)
    print(f"store: {built['exports']:,} exports, {built['export_rows']:,} export rows, "
          f"{built['store_bytes'] / 2 ** 20:,.0f} MiB, built in {built['build_s']} s; "
          f"leak of {built['leak_rows']:,} rows", flush=True)
    store = Path(built["home"]) / "lineage.duckdb"
    base, tr = Side("baseline"), Side("tracer")
    verdict = None
    for rep in range(args.reps):
        for side, argv_ in ((base, baseline_argv(store, work / "leak_keys.parquet", work / "leak.csv")),
                            (tr, [str(tracer_exe()), "attribute", str(work / "leak.csv"), "--home",
                                  str(built["home"]), "--json"])):
            log = work / f"{side.name}-{rep}.log"
            side.runs.append(run_measured(argv_, log))
            r = side.runs[-1]
            print(f"  rep {rep + 1}/{args.reps} {side.name:9s} {r.seconds:7.2f} s wall {r.cpu_seconds:7.2f} s CPU "
                  f"{r.peak_rss_mib:7.1f} MiB", flush=True)
            if side is tr:
                verdict = json.loads(log.read_text(encoding="utf-8"))
    ratio = tr.median_s / base.median_s
    print(f"\n{'exports':>8} {'export rows':>12} {'leak rows':>9} {'baseline s':>10} {'tracer s':>9} "
          f"{'tracer/base':>11} {'base MiB':>8} {'tracer MiB':>10} {'store B/row':>11}")
    print(f"{built['exports']:>8,} {built['export_rows']:>12,} {built['leak_rows']:>9,} {base.median_s:>10.2f} "
          f"{tr.median_s:>9.2f} {ratio:>10.2f}x {base.peak_rss_mib:>8.0f} {tr.peak_rss_mib:>10.0f} "
          f"{built['store_bytes'] / built['export_rows']:>11.1f}")
    accused = [c["recipient"] for c in (verdict or {}).get("candidates", []) if c.get("accused")]
    print(f"verdict: {verdict.get('verdict') if verdict else '?'}; accused: {', '.join(accused) or 'nobody'} "
          f"(the leak is a sample of export A)")
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['mem_total_gib']} GiB, Python {m['python']}, duckdb {m['duckdb']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "built": {k: (str(v) if isinstance(v, Path) else v) for k, v in built.items()},
            "baseline": base.summary(), "tracer": tr.summary(), "ratio": round(ratio, 2),
            "verdict": verdict.get("verdict") if verdict else None, "machine": m, "code": code_version()},
            indent=2), encoding="utf-8")
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
