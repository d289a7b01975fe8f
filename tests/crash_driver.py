"""Kill `tracer export` with SIGKILL (run by test_crash_safety.py).

    python tests/crash_driver.py HOME SOURCE OUTDIR TRIALS SEED
    python tests/crash_driver.py --at POINT HOME SOURCE OUT

The first form imports tracer once, then forks one child per trial that runs
the real CLI (`tracer export ...`); the parent SIGKILLs it after a random
delay drawn from [0, 1.2 x the duration of an uninterrupted export]. This
process never opens DuckDB itself, so forking is safe. Prints one JSON line
per trial.

The second form runs one export that SIGKILLs itself at a named point of the
file-and-lineage protocol (see tracer.journal), so that every window is hit
deterministically.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time


def run_child(argv: list[str]) -> None:
    from tracer.cli import main

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.argv = ["tracer", *argv]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        code = 70
    os._exit(code)


def spawn(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        run_child(argv)
    return pid


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_at(point: str, home: str, source: str, out: str) -> None:
    from tracer import commit, journal, ledger

    def before(obj, name):
        original = getattr(obj, name)

        def wrapper(*a, **kw):
            _die()
            return original(*a, **kw)
        setattr(obj, name, wrapper)

    def after(obj, name):
        original = getattr(obj, name)

        def wrapper(*a, **kw):
            result = original(*a, **kw)
            _die()
            return result
        setattr(obj, name, wrapper)

    {"journal": lambda: after(journal.Pending, "__init__"),
     "written": lambda: after(commit, "write_file"),
     "in-transaction": lambda: before(ledger, "append"),
     "committed": lambda: before(journal.Pending, "place"),
     "placed": lambda: after(journal.Pending, "place")}[point]()
    run_child(["export", source, "--recipient", "R", "--purpose", "crash test", "--out", out, "--home", home])


def main() -> None:
    if sys.argv[1] == "--at":
        crash_at(*sys.argv[2:6])
        return
    home, source, outdir, trials, seed = sys.argv[1:6]
    rng = random.Random(int(seed))
    import tracer.cli  # noqa: F401  (import once: children start warm)

    def argv(i: int) -> list[str]:
        return ["export", source, "--recipient", f"R{i % 4}", "--purpose", "crash test",
                "--out", os.path.join(outdir, f"out{i:03d}.csv"), "--home", home, "--quiet"]

    def calibrate(n: int) -> float:
        """An uninterrupted export: how long one takes now (the store grows, load varies)."""
        t0 = time.monotonic()
        _, status = os.waitpid(spawn(argv(900 + n)), 0)
        seconds = time.monotonic() - t0
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"calibration": n, "seconds": round(seconds, 3), "exit": code}), flush=True)
        if code != 0:
            sys.exit(1)
        return seconds

    full = 0.0
    for i in range(int(trials)):
        if i % 25 == 0:
            full = calibrate(i // 25)
        delay = rng.uniform(0, 1.2 * full)
        pid = spawn(argv(i))
        time.sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"trial": i, "delay": round(delay, 3), "exit": code}), flush=True)


if __name__ == "__main__":
    main()
