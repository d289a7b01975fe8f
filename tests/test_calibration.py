"""The false-accusation figures are true: innocent recipients' p-values are
uniform or conservative (issue 5), checked on a small run; the benchmark
bench/forensic_power.py runs the 10,000-trial version."""

from __future__ import annotations

import random

import pytest

from tracer import ExportRequest, attribute, export, leaks


@pytest.fixture(scope="module")
def world(new_world):
    root, home, source = new_world("calibration", 3000, 41)
    plans = {"A": {}, "B": {}, "C": dict(columns=["姓名", "手机号", "月日均存款", "客户等级"]),
             "D": dict(where="客户等级 <> '普通'"), "E": dict(where='hash("客户号") % 2 = 0'),
             "F": dict(columns=["姓名", "身份证号", "手机号", "开户日期"])}
    outs = {}
    for name, kw in plans.items():
        outs[name] = root / f"{name}.csv"
        export(ExportRequest(str(source), name, "calibration", str(outs[name]), **kw), home=home)
    return {"home": home, "root": root, "outs": outs, "source": source}


def test_innocent_p_values_are_uniform_or_conservative(world):
    rng = random.Random(2024)
    names = sorted(world["outs"])
    innocent = []
    guilty_caught = 0
    trials = 40
    for t in range(trials):
        kind = rng.choice(["one", "two", "source"])
        size = rng.choice([20, 50, 200])
        if kind == "source":
            coalition = set()
            table = leaks.sample(leaks.read(world["source"]), size, seed=t)
        else:
            coalition = set(rng.sample(names, 1 if kind == "one" else 2))
            copies = [leaks.read(world["outs"][n]) for n in sorted(coalition)]
            common = [c for c in copies[0][0] if all(c in cp[0] for cp in copies)]
            copies = [leaks.keep(cp, common) for cp in copies]
            table = leaks.sample(leaks.concat(*copies), size, seed=t)
        path = leaks.write(world["root"] / f"trial_{t}.csv", table)
        v = attribute(path, home=world["home"])
        for c in v.candidates:
            if c.recipient in coalition:
                guilty_caught += c.accused
            else:
                assert not c.accused, f"trial {t}: innocent {c.recipient} accused"
                innocent.append(c.to_dict()["evidence"]["p_value_raw"])
        # exports with no evidence at all are innocent with p = 1
        innocent.extend([1.0] * (len(names) - len(v.candidates) - len(coalition - {c.recipient for c in v.candidates})))
    n = len(innocent)
    assert n >= 150
    for t in (0.01, 0.05, 0.1, 0.25, 0.5):
        share = sum(p <= t for p in innocent) / n
        # super-uniform: P(p <= t) <= t, with room for sampling noise
        assert share <= t + 3 * (t * (1 - t) / n) ** 0.5 + 1 / n, (t, share)
    assert guilty_caught >= trials // 3  # the same leaks do name their sources
