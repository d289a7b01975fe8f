"""Lists with several rows per customer (accounts, statements, loans).

Every row an export writes under one row key (the customer's ID number)
takes the same mark plan, so its marked values sit on one lattice point and
another export reads them all alike: twenty rows of one customer agree with
an innocent export together or not at all. Attribution counts a key once,
agreeing if any of its cells does, with chance r/q for r distinct classes
among its values (forensics.markread.counts_by_key); a review found
innocents accused at 1e-15 when each row counted as a trial.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from tracer import ExportRequest, attribute, export, init, leaks
from tracer.synthdata import make_customers, write_csv

ROWS_PER_CUSTOMER, CUSTOMERS = 20, 150
RECIPIENTS = "ABCDEF"


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    d = tmp_path_factory.mktemp("accounts")
    home = d / "home"
    init(home)
    people = make_customers(CUSTOMERS, seed=51)
    each = make_customers(CUSTOMERS * ROWS_PER_CUSTOMER, seed=52)  # each account's own balance and date
    who = pa.array(np.repeat(np.arange(CUSTOMERS), ROWS_PER_CUSTOMER))
    cols = {c: people.column(c).take(who) for c in ("客户号", "姓名", "身份证号", "手机号", "开户网点")}
    cols["月日均存款"], cols["开户日期"] = each.column("月日均存款"), each.column("开户日期")
    write_csv(pa.table(cols), d / "accounts.csv")
    for r in RECIPIENTS:
        export(ExportRequest(str(d / "accounts.csv"), r, "review", str(d / f"{r}.csv")), home=home)
    return d, home


@pytest.mark.parametrize("trial", range(3))
def test_a_copys_accounts_accuse_only_its_recipient(accounts, trial):
    d, home = accounts
    header, rows = leaks.read(d / "A.csv")
    by_customer: dict[str, list] = {}
    for r in rows:
        by_customer.setdefault(r[header.index("身份证号")], []).append(r)
    picked = random.Random(trial).sample(sorted(by_customer), 30)
    # Canaries out: the marks alone must not accuse an innocent export.
    real = [r for k in picked for r in by_customer[k] if len(by_customer[k]) > 1]
    v = attribute(str(leaks.write(d / f"leak_{trial}.csv", (header, real))), home=home)
    assert {c.recipient for c in v.accused} <= {"A"}, [(c.recipient, c.p_value) for c in v.candidates]
    innocent = [c for c in v.candidates if c.recipient != "A"]
    assert min(c.p_value for c in innocent) > 1e-3
    assert [c.recipient for c in v.accused] == ["A"]  # 30 customers' marks still name A


def test_innocent_p_values_stay_uniform_or_conservative(accounts):
    """The null the marks' binomial rests on, on this list's shape: across
    leaks of one recipient's rows for 5-40 customers (canaries and all, or
    the raw source's rows), innocent exports' raw p-values are super-uniform."""
    d, home = accounts
    rng = random.Random(7)
    innocent = []
    for t in range(24):
        guilty = rng.choice(RECIPIENTS + "S")  # S: the raw source, nobody's copy
        header, rows = leaks.read(d / ("accounts.csv" if guilty == "S" else f"{guilty}.csv"))
        col = header.index("身份证号")
        chosen = set(rng.sample(sorted({r[col] for r in rows}), rng.choice([5, 15, 40])))
        leak = leaks.write(d / f"null_{t}.csv", (header, [r for r in rows if r[col] in chosen]))
        v = attribute(str(leak), home=home)
        seen = set()
        for c in v.candidates:
            seen.add(c.recipient)
            if c.recipient != guilty:
                assert not c.accused, (t, c.recipient, c.p_value)
                innocent.append(c.to_dict()["evidence"]["p_value_raw"])
        innocent += [1.0] * len(set(RECIPIENTS) - seen - {guilty})  # no evidence at all: p = 1
    n = len(innocent)
    assert n >= 100
    for t in (0.01, 0.05, 0.1, 0.25):
        share = sum(p <= t for p in innocent) / n
        assert share <= t + 3 * (t * (1 - t) / n) ** 0.5 + 1 / n, (t, share)


@pytest.mark.parametrize("first", ["source", "B"])
def test_two_rows_of_each_customer_from_two_lists_keep_both_fingerprints(bank, verdict_for, first):
    """A broker stacks two lists of the same customers: the raw source's rows
    (or B's copy) first, then A's. Each customer's key holds two values; A's
    sits on A's point (a review found A cleared as "fingerprint absent" when
    only the first row of each key was read)."""
    a_header, a_rows = leaks.read(bank["outs"]["A"])
    other = leaks.read(bank["source"] if first == "source" else bank["outs"]["B"])
    other = leaks.keep(other, a_header)
    col = a_header.index("身份证号")
    theirs = {r[col]: r for r in other[1]}
    picked = [r for r in a_rows if r[col] in theirs][:400]  # A's real rows (no canary is in the other list)
    table = (a_header, [theirs[r[col]] for r in picked] + picked)
    v = verdict_for(bank, table, f"stacked_{first}.csv")
    want = ["A"] if first == "source" else ["A", "B"]
    assert sorted(c.recipient for c in v.accused) == want
