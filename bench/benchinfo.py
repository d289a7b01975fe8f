"""What every benchmark records beside its figures: the machine and the
commit measured (shared by the bench scripts, which run as plain scripts from
this folder)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_ROOT = REPO / "bench" / "out"  # git-ignored


def machine() -> dict:
    import duckdb

    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "mem_total_gib": round(mem_kib / 1024 ** 2, 1) if mem_kib else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "duckdb": duckdb.__version__}


def code_version() -> dict:
    """The commit measured, and whether tracer's code differed from it (an uncommitted edit)."""
    def git(*a: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    dirty = git("status", "--porcelain", "--", "tracer", "canary", "forensics")
    return {"commit": git("rev-parse", "--short=12", "HEAD"), "dirty": bool(dirty) if dirty is not None else None}


def write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


@contextmanager
def work_dir(workdir: Path | None, prefix: str, *, keep: bool = False):
    """The benchmark's work folder: ``workdir`` (kept) if given, else a new
    one under bench/out/ (git-ignored), removed afterwards unless ``keep``."""
    if workdir:
        work, temporary = workdir.resolve(), False
        work.mkdir(parents=True, exist_ok=True)
    else:
        OUT_ROOT.mkdir(parents=True, exist_ok=True)
        work, temporary = Path(tempfile.mkdtemp(prefix=prefix, dir=OUT_ROOT)), True
    print(f"work dir {work}")
    try:
        yield work
    finally:
        if temporary and not keep:
            shutil.rmtree(work, ignore_errors=True)
        elif temporary:
            print(f"kept {work}")
