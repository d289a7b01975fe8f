"""How much power does two-stage mark reading give up, and how much work does it save?

Why: attribution reads every export's marks on 2,000 of its held rows and the
rest of its 5,000-row sample only where that first read leaves p <= 0.2
(forensics.twostage, forensics.attribute). The stop never accuses anyone the full read would not;
this prints, per mark signal (the share of readable cells still carrying the
export's mark: 1 for a faithful copy, ~1/c for a merge of c copies), the share
of simulated guilty exports the full read accuses, the share the two-stage
read accuses, the loss, and the share read in full (signal 0: innocent
exports, i.e. the work left after the first stage).

    python bench/two_stage_power.py
    python bench/two_stage_power.py --exports 20000 --first 1000 --read-on-p 0.1   # another rule
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forensics import twostage  # noqa: E402

SIGNALS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exports", type=int, default=4000, help="simulated exports per signal")
    p.add_argument("--first", type=int, default=twostage.FIRST_STAGE)
    p.add_argument("--full", type=int, default=5000)
    p.add_argument("--read-on-p", type=float, default=twostage.READ_ON_P)
    p.add_argument("--json", type=Path, metavar="FILE")
    a = p.parse_args(argv)
    rows = [twostage.simulate(s, exports=a.exports, first=a.first, full=a.full, read_on_p=a.read_on_p, seed=i)
            for i, s in enumerate(SIGNALS)]
    print(f"first {a.first:,} of {a.full:,} rows, read on at p <= {a.read_on_p}; 1,000 exports tested, alpha 1e-6; "
          f"{a.exports:,} simulated exports per signal")
    print(f"{'signal':>7} {'full read':>10} {'two-stage':>10} {'lost':>7} {'read in full':>13}")
    for r in rows:
        print(f"{r.signal:7.3f} {r.full:10.4f} {r.two_stage:10.4f} {r.lost:7.2%} {r.read_on:13.4f}")
    if a.json:
        a.json.write_text(json.dumps([{**r.__dict__, "lost": r.lost} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
