"""How small a leak, and how many colluders, can tracer still attribute, and is
its false-accusation figure true?

Why: a steward relies on two promises. First, when a list leaks, tracer names
a recipient who held it, even when several recipients merged their copies to
hide (issue 5). Second, the false-accusation probability it prints is honest:
it accuses only when the chance that an innocent recipient shows the same
evidence is at most alpha (1e-6, corrected for every export). The unit tests
check both on a few leaks; this benchmark measures them at scale, in one
command, on a realistic world:

* a synthetic bank list (:func:`tracer.synthdata.make_customers`, 120,000
  rows) exported to 20 recipients of the kinds a bank really has: call
  centres holding different samples of high-balance customers with
  name/phone/balance/tier, identical pairs of credit reviewers with every
  column, tier subsets, branches (``开户网点 LIKE``), a micro-loan partner with
  name/ID/phone only, collections, SMS marketing and internal audit;
* power: leaks of 20 to 100,000 rows from coalitions of 1 to 5 recipients
  whose columns overlap (they share a join key, the ID number or the phone),
  under four attacks: ``union`` (each colluder contributes a sample of its own
  copy), ``intersection`` (:func:`tracer.leaks.merge_cellwise` keeping only the
  rows every copy holds, each cell from a random copy), ``cellwise`` (the same
  alignment keeping every row any of them holds) and ``rounded`` (the
  intersection with amounts rounded to whole yuan). A leak larger than what
  the coalition can supply is capped at what it holds. Detection rate = share
  of leaks in which at least one colluder is accused;
* null: at least 10,000 trials in all. Leaks taken from the raw source
  (never exported, shaped like an export or with random columns) accuse
  nobody if tracer is right, and in every coalition leak each recipient
  outside the coalition is innocent. It reports the share of trials that
  accused anyone innocent next to alpha, and the distribution of the
  innocent recipients' raw p-values against the uniform bound
  P(p <= t) <= t, which is what makes the printed figure true.

The world is reproducible: the data, the leak recipes and even the tracer key
and export ids are derived from ``--seed`` (a benchmark-only shortcut: real
homes use a random key), so any trial can be replayed from its recipe.

    python bench/forensic_power.py --quick              # ~2 minutes, smoke test
    python bench/forensic_power.py --out bench/out --jobs 2   # the full run (~40 min, 2 cores)

Writes OUT/forensic_power.json and OUT/forensic_power.png (the plot needs the
``bench`` extra: ``pip install -e '.[bench]'``). Exit status 1 if any
innocent recipient was accused; the leak file and verdict are then kept under
OUT/false_accusations/.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from canary.prf import Key
from tracer import ExportRequest, Home, attribute, export, init, leaks
from tracer.synthdata import make_customers, write_csv

BENCH_DIR = Path(__file__).resolve().parent
ALPHA = 1e-6  # tracer's default accusation threshold (corrected for every export)
SIZES = (20, 50, 100, 200, 500, 1000, 2000, 5000, 20000, 100000)
COALITION_SIZES = (1, 2, 3, 4, 5)
ATTACKS = ("union", "intersection", "cellwise", "rounded")
NULL_SIZES = (20, 50, 100, 200)  # most null trials: small leaks attribute fast
P_THRESHOLDS = (1e-4, 1e-3, 0.01, 0.05, 0.1, 0.5)
KEYS = ("身份证号", "手机号")  # colluders align their copies on the first key they all hold
AMOUNT, DATE = "月日均存款", "开户日期"
MARKED = (AMOUNT, DATE)
CALL = ["姓名", "手机号", "月日均存款", "客户等级"]


@dataclass(frozen=True)
class Plan:
    recipient: str
    kind: str
    columns: list[str] | None = None  # None: every column
    where: str | None = None


#: Who the bank sends lists to (20 recipients, one export each).
RECIPIENTS: tuple[Plan, ...] = (
    Plan("Anxin call centre", "call centre", CALL, '"月日均存款" >= 50000 AND hash("客户号") % 10 < 3'),
    Plan("Pingan call centre", "call centre", CALL, '"月日均存款" >= 50000 AND hash("客户号") % 10 BETWEEN 2 AND 5'),
    Plan("Taikang call centre", "call centre", CALL + ["开户日期"],
         '"月日均存款" >= 20000 AND hash("客户号") % 10 >= 5'),
    Plan("Guoshou call centre", "call centre", ["姓名", "性别", "手机号", "客户等级", "月日均存款"],
         'hash("客户号") % 4 = 1'),
    Plan("Credit review A", "credit reviewer", None, "客户等级 <> '普通'"),
    Plan("Credit review B", "credit reviewer", None, "客户等级 <> '普通'"),
    Plan("Loan review X", "credit reviewer", None, None),
    Plan("Loan review Y", "credit reviewer", None, None),
    Plan("Gold-tier campaign", "tier subset", ["客户号", "姓名", "手机号", "客户等级", "月日均存款"], "客户等级 = '金卡'"),
    Plan("Private banking", "tier subset", ["客户号", "姓名", "身份证号", "手机号", "客户等级", "月日均存款", "开户日期"],
         "客户等级 IN ('白金', '钻石')"),
    Plan("Wealth partner", "tier subset", ["姓名", "手机号", "客户等级", "月日均存款", "开户网点"], '"月日均存款" >= 200000'),
    Plan("Beijing branches", "branch", None, "开户网点 LIKE '北京%'"),
    Plan("Shanghai branches", "branch", None, "开户网点 LIKE '上海%'"),
    Plan("Guangzhou branches", "branch", None, "开户网点 LIKE '广州%'"),
    Plan("Nanjing branches", "branch", None, "开户网点 LIKE '南京%'"),
    Plan("Micro-loan partner", "micro-loan", ["姓名", "身份证号", "手机号"], 'hash("客户号") % 3 = 0'),
    Plan("Guarantee partner", "guarantee", ["客户号", "姓名", "身份证号", "月日均存款", "开户日期"], '"月日均存款" >= 100000'),
    Plan("Collections agency", "collections", ["客户号", "姓名", "身份证号", "手机号", "地址", "月日均存款"],
         '"月日均存款" < 2000'),
    Plan("SMS marketing", "marketing", ["姓名", "手机号", "性别", "地址"], 'hash("客户号") % 2 = 0'),
    Plan("Internal audit", "audit", None, None),
)


@dataclass(frozen=True)
class Config:
    rows: int = 120_000
    sizes: tuple[int, ...] = SIZES
    reps_small: int = 24  # power trials per (size, coalition size) up to 2,000 rows
    reps_large: int = 12  # ... and above (each takes seconds)
    null_trials: int = 10_000  # all trials together, topped up with small null leaks
    source_share: float = 0.4  # share of the top-up taken from the raw source
    seed: int = 2025
    jobs: int = 2


QUICK = dict(rows=12_000, sizes=(20, 100, 500, 2000), reps_small=4, reps_large=4, null_trials=400)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_stdout():
    """Silence file descriptor 1: DuckDB draws progress bars there during long queries,
    which would bury the tables this script prints."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# --- the world: source, exports, and what each recipient holds -------------

def build_world(root: Path, cfg: Config) -> dict:
    """Synthesise the source and export it to every recipient; return the description workers load."""
    root.mkdir(parents=True, exist_ok=True)
    home = Home.at(root / "home")
    # Benchmark only: a key derived from the seed makes every mark and canary reproducible.
    home.write_key(Key(hashlib.sha256(f"tracer/bench/forensic_power/{cfg.seed}".encode()).digest()))
    init(home)
    source = root / "customers.csv"
    t0 = time.monotonic()
    write_csv(make_customers(cfg.rows, seed=cfg.seed), source)
    log(f"source: {cfg.rows:,} rows in {time.monotonic() - t0:.1f}s")
    recipients = []
    for i, plan in enumerate(RECIPIENTS):
        out = root / "exports" / f"r{i:02d}.csv"
        out.parent.mkdir(exist_ok=True)
        export_id = "ex-" + hashlib.sha256(f"{cfg.seed}/{plan.recipient}".encode()).hexdigest()[:10]
        t0 = time.monotonic()
        with quiet_stdout():
            receipt = export(ExportRequest(str(source), plan.recipient, f"benchmark: {plan.kind}", str(out),
                                           columns=plan.columns, where=plan.where, export_id=export_id), home=home)
        d = receipt.to_dict()
        log(f"export {i + 1:2d}/{len(RECIPIENTS)} {plan.recipient:<22} {d.get('rows', 0):>7,} rows "
            f"in {time.monotonic() - t0:.1f}s")
        recipients.append(dict(asdict(plan), export_id=export_id, path=str(out), rows=d.get("rows")))
    return {"root": str(root), "home": str(home.root), "source": str(source), "recipients": recipients}


class World:
    """The exported copies in memory, indexed for building leaks quickly."""

    def __init__(self, desc: dict):
        self.desc = desc
        self.home = desc["home"]
        self.names = [r["recipient"] for r in desc["recipients"]]
        assert len(set(self.names)) == len(self.names), "one export per recipient"
        self.source = leaks.read(desc["source"])
        self.copies = {r["recipient"]: leaks.read(r["path"]) for r in desc["recipients"]}
        header = self.source[0]
        self.n = len(self.source[1])
        index = {k: {row[header.index(k)]: i for i, row in enumerate(self.source[1])} for k in KEYS}
        self.source_keys = {k: [row[header.index(k)] for row in self.source[1]] for k in KEYS}
        self.held: dict[str, np.ndarray] = {}  # source rows each recipient holds (canaries excluded)
        self.by_key: dict[tuple[str, str], dict[str, list[str]]] = {}  # (recipient, key) -> key value -> row
        self.canaries: dict[tuple[str, str], set[str]] = {}  # (recipient, key) -> key values of its canaries
        for name, (h, rows) in self.copies.items():
            key = next(k for k in KEYS if k in h)
            j = h.index(key)
            idx = [index[key].get(r[j]) for r in rows]
            held = np.zeros(self.n, dtype=bool)
            held[np.array([i for i in idx if i is not None], dtype=np.int64)] = True
            self.held[name] = held
            for k in KEYS:
                if k in h:
                    jk = h.index(k)
                    self.by_key[(name, k)] = {r[jk]: r for r in rows}
                    self.canaries[(name, k)] = {r[jk] for r, i in zip(rows, idx) if i is None}

    def columns(self, name: str) -> list[str]:
        return self.copies[name][0]

    def common_columns(self, coalition) -> list[str]:
        first = self.columns(coalition[0])
        return [c for c in first if all(c in self.columns(m) for m in coalition[1:])]


@dataclass
class Coalition:
    members: tuple[str, ...]
    key: str
    capacity: dict[str, int]  # attack -> largest leak it can make


_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def coalitions(world: World, k: int) -> list[Coalition]:
    """Every k recipients who share a join key, with what each attack can yield."""
    packed = {n: np.packbits(world.held[n]) for n in world.names}
    out = []
    for members in itertools.combinations(world.names, k):
        common = world.common_columns(members)
        key = next((c for c in KEYS if c in common), None)
        if key is None:
            continue
        both = np.bitwise_and.reduce([packed[m] for m in members])
        either = np.bitwise_or.reduce([packed[m] for m in members])
        inter = int(_POP[both].sum())
        cap = {"union": sum(len(world.copies[m][1]) for m in members), "intersection": inter,
               "cellwise": int(_POP[either].sum()), "rounded": inter}
        out.append(Coalition(members, key, cap))
    return out


# --- trial plans ------------------------------------------------------------

def plan_trials(world: World, cfg: Config) -> list[dict]:
    """Power trials for every (size, coalition size), topped up with small null trials."""
    rng = random.Random(f"plan/{cfg.seed}")
    pools = {k: coalitions(world, k) for k in COALITION_SIZES}
    cache: dict[tuple, list[Coalition]] = {}

    def choose(k: int, attack: str, size: int) -> tuple[Coalition, int]:
        ck = (k, attack, size)
        if ck not in cache:
            fits = [c for c in pools[k] if c.capacity[attack] >= size]
            if not fits:  # cap at what the best-placed coalitions hold
                best = max(c.capacity[attack] for c in pools[k])
                fits = [c for c in pools[k] if c.capacity[attack] == best]
            cache[ck] = fits
        c = rng.choice(cache[ck])
        return c, min(size, c.capacity[attack])

    specs: list[dict] = []

    def coalition_trial(size: int, k: int, attack: str, stream: str) -> None:
        c, rows = choose(k, attack, size)
        specs.append(dict(id=len(specs), kind="coalition", stream=stream, size=size, rows=rows, k=k,
                          attack=attack, coalition=list(c.members), key=c.key,
                          columns=world.common_columns(c.members), seed=rng.getrandbits(32)))

    for size in cfg.sizes:
        for k in COALITION_SIZES:
            for rep in range(cfg.reps_small if size <= 2000 else cfg.reps_large):
                coalition_trial(size, k, ATTACKS[rep % len(ATTACKS)], "power")
    extra = max(0, cfg.null_trials - len(specs))
    n_source = math.ceil(extra * cfg.source_share)
    for i in range(n_source):
        specs.append(source_trial(world, rng, len(specs), i))
    for i in range(extra - n_source):
        k = COALITION_SIZES[i % len(COALITION_SIZES)]
        size = NULL_SIZES[(i // len(COALITION_SIZES)) % len(NULL_SIZES)]
        coalition_trial(size, k, ATTACKS[(i // 20) % len(ATTACKS)], "null")
    return specs


def source_trial(world: World, rng: random.Random, tid: int, i: int) -> dict:
    """Rows taken from the raw source: shaped like one export (its rows and columns) or random."""
    size = 2000 if i % 50 == 49 else 20000 if i % 200 == 199 else NULL_SIZES[i % len(NULL_SIZES)]
    header = world.source[0]
    if i % 2 == 0:
        shape = rng.choice(world.names)
        columns = world.columns(shape)
    else:
        shape = None
        others = [c for c in header if c not in KEYS]
        columns = sorted({rng.choice(KEYS), *rng.sample(others, rng.randint(1, 5))}, key=header.index)
    rounded = AMOUNT in columns and rng.random() < 0.25
    return dict(id=tid, kind="source", stream="null", size=size, k=0, attack="source-rounded" if rounded else "source",
                coalition=[], shape=shape, columns=columns, seed=rng.getrandbits(32))


# --- building one leak ------------------------------------------------------

def make_leak(world: World, spec: dict) -> leaks.Table:
    rng = random.Random(spec["seed"])
    if spec["kind"] == "source":
        pool = np.flatnonzero(world.held[spec["shape"]]) if spec["shape"] else np.arange(world.n)
        picked = [pool[i] for i in rng.sample(range(len(pool)), min(spec["size"], len(pool)))]
        table = leaks.keep((world.source[0], [world.source[1][i] for i in picked]), spec["columns"])
        rounded = spec["attack"] == "source-rounded"
    else:
        table = coalition_leak(world, spec, rng)
        rounded = spec["attack"] == "rounded"
    if rounded and AMOUNT in table[0]:
        table = leaks.map_column(table, AMOUNT, leaks.whole_yuan)
    return leaks.shuffle(table, seed=rng.getrandbits(32))


def coalition_leak(world: World, spec: dict, rng: random.Random) -> leaks.Table:
    members, columns, rows = spec["coalition"], spec["columns"], spec["rows"]
    if spec["attack"] == "union":
        shares = _split(rows, [len(world.copies[m][1]) for m in members])
        parts = [leaks.keep(leaks.sample(world.copies[m], n, seed=rng.getrandbits(32)), columns)
                 for m, n in zip(members, shares)]
        return leaks.concat(*parts)
    # Sample the aligned rows first (real customers all/any of them hold, plus the canaries all/any
    # of them hold), then merge only those: the same leak as merging everything and sampling after.
    key = spec["key"]
    maps = [world.by_key[(m, key)] for m in members]
    keep = "any" if spec["attack"] == "cellwise" else "all"
    combine = np.logical_or.reduce if keep == "any" else np.logical_and.reduce
    real = np.flatnonzero(combine([world.held[m] for m in members]))
    planted = [world.canaries[(m, key)] for m in members]
    planted = sorted(set.union(*planted) if keep == "any" else set.intersection(*planted))
    picks = rng.sample(range(len(real) + len(planted)), min(rows, len(real) + len(planted)))
    chosen = [world.source_keys[key][real[i]] if i < len(real) else planted[i - len(real)] for i in picks]
    header_of = {m: world.columns(m) for m in members}
    copies = [leaks.keep((header_of[m], [mp_[kv] for kv in chosen if kv in mp_]), columns)
              for m, mp_ in zip(members, maps)]
    return leaks.merge_cellwise(copies, key=spec["key"], seed=rng.getrandbits(32), keep=keep)


def _split(total: int, room: list[int]) -> list[int]:
    """Share ``total`` rows as evenly as each copy's size allows."""
    shares = [0] * len(room)
    left = total
    while left > 0 and any(s < r for s, r in zip(shares, room)):
        open_ = [i for i, (s, r) in enumerate(zip(shares, room)) if s < r]
        each = max(1, left // len(open_))
        for i in open_:
            add = min(each, room[i] - shares[i], left)
            shares[i] += add
            left -= add
    return shares


# --- running a trial --------------------------------------------------------

_WORLD: World | None = None
_SCRATCH: Path | None = None
_OUT: Path | None = None


def _init_worker(desc: dict, out: str) -> None:
    global _WORLD, _SCRATCH, _OUT
    _WORLD = World(desc)
    _SCRATCH = Path(desc["root"]) / "leaks" / str(os.getpid())
    _SCRATCH.mkdir(parents=True, exist_ok=True)
    _OUT = Path(out)
    # DuckDB draws progress bars on fd 1; a worker reports only through return values and stderr.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)


def run_trial(spec: dict) -> dict:
    world = _WORLD
    t0 = time.monotonic()
    table = make_leak(world, spec)
    path = leaks.write(_SCRATCH / f"trial-{spec['id']}.csv", table)
    v = attribute(path, home=world.home, alpha=ALPHA)
    coalition = set(spec["coalition"])
    innocent = [n for n in world.names if n not in coalition]
    cands = {c.recipient: c.to_dict() for c in v.candidates}
    accused = sorted(c.recipient for c in v.accused)
    p_innocent = [cands[n]["evidence"]["p_value_raw"] if n in cands else 1.0 for n in innocent]
    colluder_logp = [cands[n]["log10_p_value"] for n in spec["coalition"] if n in cands]
    res = dict(
        id=spec["id"], leak_rows=len(table[1]), verdict=v.verdict, accused=accused,
        detected=bool(coalition & set(accused)), all_named=bool(coalition) and coalition <= set(accused),
        innocent_accused=sorted(set(accused) - coalition), innocents=len(innocent),
        p_innocent=p_innocent, p_innocent_candidates=[cands[n]["evidence"]["p_value_raw"] for n in innocent
                                                      if n in cands],
        best_colluder_log10_p=min((x for x in colluder_logp if x is not None), default=None),
        seconds=round(time.monotonic() - t0, 3))
    if res["innocent_accused"]:
        keep_evidence(spec, res, path, v.to_dict())
    path.unlink()
    return res


def keep_evidence(spec: dict, res: dict, path: Path, verdict: dict) -> None:
    folder = _OUT / "false_accusations" / f"trial-{spec['id']}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / "leak.csv")
    (folder / "recipe.json").write_text(json.dumps({"spec": spec, "result": res}, ensure_ascii=False, indent=1))
    (folder / "verdict.json").write_text(json.dumps(verdict, ensure_ascii=False, indent=1, default=str))
    log(f"!!! FALSE ACCUSATION in trial {spec['id']}: {res['innocent_accused']} accused; "
        f"recipe and leak kept in {folder}")


def cost(spec: dict) -> float:
    """Rough seconds per trial, for ordering (largest first) and the ETA."""
    return 0.35 + spec["rows"] * 1.2e-4 if spec["kind"] == "coalition" else 0.35 + spec["size"] * 1.2e-4


def run_all(desc: dict, specs: list[dict], jobs: int, out: Path) -> list[dict]:
    order = sorted(specs, key=cost, reverse=True)
    total = sum(map(cost, specs))
    results, done_cost, fa = [], 0.0, 0
    t0 = last = time.monotonic()
    by_id = {s["id"]: s for s in specs}
    if jobs > 1:
        pool = mp.get_context("spawn").Pool(jobs, _init_worker, (desc, str(out)))
        stream = pool.imap_unordered(run_trial, order, chunksize=1)
    else:
        pool, stream = None, _inline(desc, order, out)
    try:
        for res in stream:
            results.append(res)
            done_cost += cost(by_id[res["id"]])
            fa += bool(res["innocent_accused"])
            now = time.monotonic()
            if now - last > 15 or len(results) == len(specs):
                last = now
                eta = (now - t0) * (total - done_cost) / max(done_cost, 1e-9)
                log(f"trials {len(results):>6,}/{len(specs):,}  {now - t0:6.0f}s elapsed, ~{eta:5.0f}s left, "
                    f"innocent accused in {fa} trial(s)")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return sorted(results, key=lambda r: r["id"])


def _inline(desc: dict, order: list[dict], out: Path):
    """--jobs 1: run the trials in this process, stdout silenced only while each runs."""
    global _WORLD, _SCRATCH, _OUT
    _WORLD, _OUT = World(desc), out
    _SCRATCH = Path(desc["root"]) / "leaks" / "inline"
    _SCRATCH.mkdir(parents=True, exist_ok=True)
    for spec in order:
        with quiet_stdout():
            res = run_trial(spec)
        yield res


# --- summaries --------------------------------------------------------------

def wilson_upper(x: int, n: int, z: float = 1.645) -> float:
    """One-sided 95% upper bound on a proportion (Wilson score)."""
    if n == 0:
        return 1.0
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + half) / (1 + z * z / n))


def power_cells(trials: list[dict], keep=lambda t: True) -> list[dict]:
    cells = []
    for size in sorted({t["size"] for t in trials if t["kind"] == "coalition"}):
        for k in COALITION_SIZES:
            ts = [t for t in trials if t["kind"] == "coalition" and t["size"] == size and t["k"] == k and keep(t)]
            if not ts:
                continue
            cells.append(dict(size=size, k=k, trials=len(ts), detected=sum(t["detected"] for t in ts),
                              rate=sum(t["detected"] for t in ts) / len(ts),
                              all_named=sum(t["all_named"] for t in ts),
                              innocent_accused=sum(bool(t["innocent_accused"]) for t in ts),
                              median_rows=int(statistics.median(t["leak_rows"] for t in ts)),
                              capped=sum(t["rows"] < t["size"] for t in ts)))
    return cells


def smallest_caught(cells: list[dict], k: int, rate: float = 0.95) -> int | None:
    """The smallest leak size from which on (it and every larger size measured) at least one of k
    colluders is named in >= rate of trials and no innocent recipient is accused."""
    found = None
    for c in sorted((c for c in cells if c["k"] == k), key=lambda c: c["size"], reverse=True):
        if c["rate"] < rate or c["innocent_accused"]:
            break
        found = c["size"]
    return found


def null_summary(trials: list[dict]) -> dict:
    p_all = [p for t in trials for p in t["p_innocent"]]
    p_cand = [p for t in trials for p in t["p_innocent_candidates"]]
    bad = [t for t in trials if t["innocent_accused"]]
    n = len(trials)

    def dist(ps: list[float]) -> list[dict]:
        m = len(ps)
        return [dict(t=t, share=sum(p <= t for p in ps) / m if m else None,
                     count=sum(p <= t for p in ps), wilson_upper95=wilson_upper(sum(p <= t for p in ps), m))
                for t in P_THRESHOLDS]

    low = min(((p, t["id"]) for t in trials for p in t["p_innocent"]), default=(None, None))
    return dict(
        trials=n, source_trials=sum(t["kind"] == "source" for t in trials),
        coalition_trials=sum(t["kind"] == "coalition" for t in trials),
        innocent_exports_tested=len(p_all), innocent_candidates_tested=len(p_cand),
        trials_with_innocent_accused=len(bad), empirical_rate=len(bad) / n if n else None,
        empirical_rate_upper95=wilson_upper(len(bad), n), alpha=ALPHA,
        false_accusations=[dict(id=t["id"], accused=t["innocent_accused"]) for t in bad],
        smallest_innocent_p_raw=low[0], smallest_innocent_p_trial=low[1],
        p_raw_all_innocent=dist(p_all), p_raw_innocent_candidates=dist(p_cand),
        verdicts_on_source_leaks={v: sum(1 for t in trials if t["kind"] == "source" and t["verdict"] == v)
                                  for v in ("accused", "ambiguous", "source", "unrelated")})


def git_revision() -> str | None:
    """The commit measured (with '+dirty' when the working tree differs), for the figures' provenance."""
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "--short", "HEAD").stdout.strip()
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return (head + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def has_marks(t: dict) -> bool:
    return any(c in t["columns"] for c in MARKED)


def summarise(cfg: Config, desc: dict, specs: list[dict], results: list[dict], timings: dict) -> dict:
    by_id = {r["id"]: r for r in results}
    trials = [dict(s, **by_id[s["id"]]) for s in specs]
    cells = power_cells(trials)
    marked = power_cells(trials, has_marks)
    by_attack = {a: power_cells(trials, lambda t, a=a: t["attack"] == a) for a in ATTACKS}
    return dict(
        config=asdict(cfg), code=git_revision(),
        machine=dict(cpus=os.cpu_count(), platform=platform.platform(), python=platform.python_version()),
        world=dict(rows=cfg.rows, recipients=[{k: r[k] for k in ("recipient", "kind", "columns", "where", "rows",
                                                                 "export_id")} for r in desc["recipients"]]),
        timings=timings, power=cells, power_with_marked_columns=marked, power_by_attack=by_attack,
        smallest_caught_95={str(k): smallest_caught(cells, k) for k in COALITION_SIZES},
        smallest_caught_95_with_marked_columns={str(k): smallest_caught(marked, k) for k in COALITION_SIZES},
        null=null_summary(trials),
        trials=[{k: v for k, v in t.items() if k not in ("p_innocent", "p_innocent_candidates")} for t in trials])


# --- printing and plotting --------------------------------------------------

def table_text(cells: list[dict], title: str) -> str:
    sizes = sorted({c["size"] for c in cells})
    get = {(c["size"], c["k"]): c for c in cells}
    lines = [title, f"{'leak rows':>10} " + "".join(f"{f'{k} colluder' + ('s' if k > 1 else ''):>16}"
                                                     for k in COALITION_SIZES)]
    for s in sizes:
        row = f"{s:>10,} "
        for k in COALITION_SIZES:
            c = get.get((s, k))
            if c is None:
                row += f"{'-':>16}"
                continue
            cell = f"{c['rate']:.2f} ({c['trials']})" + ("*" if c["capped"] else " ")
            row += f"{cell:>16}"
        lines.append(row)
    lines.append("  rate = share of leaks naming at least one colluder (trials); * = some leaks capped at what "
                 "the coalition holds")
    return "\n".join(lines)


def null_text(null: dict) -> str:
    lines = [
        f"Null: {null['trials']:,} trials ({null['source_trials']:,} leaks from the raw source, "
        f"{null['coalition_trials']:,} coalition leaks), {null['innocent_exports_tested']:,} innocent exports tested",
        f"  trials with an innocent recipient accused: {null['trials_with_innocent_accused']} "
        f"(rate {null['empirical_rate']:.2e}, 95% upper {null['empirical_rate_upper95']:.1e}); "
        f"stated bound alpha = {null['alpha']:.0e}",
        f"  smallest innocent raw p-value: {null['smallest_innocent_p_raw']:.3g} (trial {null['smallest_innocent_p_trial']})",
        "  innocent raw p-values, share <= t (uniform bound: t)"
        f"   all {null['innocent_exports_tested']:,} | candidates only {null['innocent_candidates_tested']:,}",
    ]
    for a, c in zip(null["p_raw_all_innocent"], null["p_raw_innocent_candidates"]):
        cs = f"{c['share']:.5f}" if c["share"] is not None else "-"
        lines.append(f"    t = {a['t']:<6g}  {a['share']:.5f} ({a['count']:>6})  |  {cs} ({c['count']:>6})"
                     f"{'   EXCEEDS t' if a['share'] > a['t'] or (c['share'] or 0) > c['t'] else ''}")
    lines.append(f"  verdicts on raw-source leaks: {null['verdicts_on_source_leaks']}")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> Path | None:
    """Detection rate against leak size, one line per coalition size: all leaks, and leaks with marks."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed (pip install -e '.[bench]'): no plot")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    panels = (("power", "all leaks (any columns, all four attacks)"),
              ("power_with_marked_columns", "leaks that carry an amount or date column"))
    for ax, (key, title) in zip(axes, panels):
        for k in COALITION_SIZES:
            cs = sorted((c for c in summary[key] if c["k"] == k), key=lambda c: c["size"])
            if cs:
                ax.plot([c["size"] for c in cs], [c["rate"] for c in cs], marker="o",
                        label=f"{k} colluder{'s' if k > 1 else ''}")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.95, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("leaked rows")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("share of leaks naming at least one colluder")
    axes[0].legend(loc="lower right", fontsize=8)
    null = summary["null"]
    p01 = next(d for d in null["p_raw_all_innocent"] if d["t"] == 0.01)
    axes[1].text(0.98, 0.04, f"null: {null['trials_with_innocent_accused']} of {null['trials']:,} trials accused an "
                 f"innocent recipient\n({null['innocent_exports_tested']:,} innocent exports tested; "
                 f"bound alpha = {null['alpha']:.0e})\ninnocent raw p <= 0.01 in {p01['share']:.2%} of tests "
                 f"(uniform bound 1%)", transform=axes[1].transAxes, ha="right", va="bottom", fontsize=8,
                 bbox=dict(boxstyle="round", fc="white", ec="grey"))
    fig.suptitle(f"tracer attribution power: {len(summary['world']['recipients'])} recipients, "
                 f"{summary['world']['rows']:,}-row source")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# --- main -------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="reduced run (~2 minutes) for smoke testing")
    ap.add_argument("--out", default=str(BENCH_DIR / "out"), help="folder for the JSON and PNG (default bench/out)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes attributing leaks (default 2)")
    ap.add_argument("--seed", type=int, default=Config.seed, help="seed for the data, key and leak recipes")
    ap.add_argument("--rows", type=int, help="source rows (default 120,000; 12,000 with --quick)")
    ap.add_argument("--null-trials", type=int, help="total trials at least (default 10,000; 400 with --quick)")
    ap.add_argument("--workdir", help="where the temporary tracer home goes (default: system temp)")
    ap.add_argument("--keep-world", action="store_true", help="keep the temporary tracer home and exports")
    ap.add_argument("--report-only", action="store_true",
                    help="reprint the tables and redraw the plot from OUT/forensic_power.json, without running")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    base = dict(QUICK) if args.quick else {}
    base.update(seed=args.seed, jobs=max(1, args.jobs))
    if args.rows:
        base["rows"] = args.rows
    if args.null_trials is not None:
        base["null_trials"] = args.null_trials
    cfg = Config(**base)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        summary = json.loads((out / "forensic_power.json").read_text())
        for key, cells in (("smallest_caught_95", "power"), ("smallest_caught_95_with_marked_columns",
                                                             "power_with_marked_columns")):
            summary[key] = {str(k): smallest_caught(summary[cells], k) for k in COALITION_SIZES}
        (out / "forensic_power.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
        report(summary, out, plot(summary, out / "forensic_power.png"))
        return 1 if summary["null"]["trials_with_innocent_accused"] else 0
    root = Path(tempfile.mkdtemp(prefix="forensic_power-", dir=args.workdir))
    timings: dict[str, float] = {}
    keep = args.keep_world
    try:
        t0 = time.monotonic()
        desc = build_world(root, cfg)
        timings["world_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        specs = plan_trials(World(desc), cfg)
        timings["plan_s"] = round(time.monotonic() - t0, 1)
        log(f"planned {len(specs):,} trials ({sum(s['stream'] == 'power' for s in specs):,} power, "
            f"{sum(s['kind'] == 'source' for s in specs):,} raw-source null) on {cfg.jobs} worker(s)")
        t0 = time.monotonic()
        results = run_all(desc, specs, cfg.jobs, out)
        timings["trials_s"] = round(time.monotonic() - t0, 1)
        timings["attribution_s_median"] = statistics.median(r["seconds"] for r in results)
        summary = summarise(cfg, desc, specs, results, timings)
        keep = keep or bool(summary["null"]["trials_with_innocent_accused"])
        summary["world"]["kept_at"] = str(root) if keep else None
        (out / "forensic_power.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
        png = plot(summary, out / "forensic_power.png")
        report(summary, out, png)
        return 1 if summary["null"]["trials_with_innocent_accused"] else 0
    finally:
        if keep:
            log(f"world kept at {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _rows(size: int | None) -> str:
    return f"{size:,} rows" if size else "not reached"


def report(summary: dict, out: Path, png: Path | None) -> None:
    print(table_text(summary["power"], "Detection rate by leak size and coalition size (all attacks)"))
    print()
    print(table_text(summary["power_with_marked_columns"],
                     "Same, leaks that carry an amount or date column (marks readable unless rounded)"))
    print()
    print("By attack (all sizes): " + ", ".join(
        f"{a} {sum(c['detected'] for c in cs)}/{sum(c['trials'] for c in cs)}"
        for a, cs in summary["power_by_attack"].items()))
    print()
    print(null_text(summary["null"]))
    print()
    for label, key in (("all leaks", "smallest_caught_95"),
                       ("leaks with an amount or date column", "smallest_caught_95_with_marked_columns")):
        s = summary[key]
        print(f"Smallest leak from which on >=95% name a colluder and no innocent is accused ({label}): "
              f"1 of 3 colluders: {_rows(s['3'])}; 1 of 5: {_rows(s['5'])}")
    print(f"\nTimings: {summary['timings']}")
    print(f"Wrote {out / 'forensic_power.json'}" + (f" and {png}" if png else ""))


if __name__ == "__main__":
    sys.exit(main())
