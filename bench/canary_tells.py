"""Can a leaker pick tracer's canary rows out of an export by looking at it?

Why: a canary is a synthetic customer hidden among an export's real rows. It
only proves a leak if the leaker cannot find it and delete it first, and a
leaker who suspects canaries will look: run the validators a careful data
buyer runs (ID checksum, issued phone prefixes, Luhn), sort the customer
numbers, compare emails with names, look for a row that is a near copy of
another one (the real row a canary was made from, its donor). This benchmark
runs 30 to 50 such checks (those the list's columns allow) on real exports and
scores each against the ground truth, so a change to canary synthesis (canary/synth.py, tracer/canaries.py)
can be judged by one command.

How: for each list shape and size it generates a synthetic list, exports it
through ``tracer.export`` into a fresh home under the work directory (never
~/.tracer), reads which rows are canaries from that export's ``canaries``
rows in the lineage store (DuckDB, read-only; matched to the file by an
identifier column), and runs every check on the exported file. Shapes:

* A: the bank list of :func:`tracer.synthdata.make_customers` (10 columns,
  customer numbers in no order, balances with cents);
* B: a loan list with 19 columns sorted by member number: contract numbers
  with a year, birthdate and age, carrier, email built from the surname's
  pinyin and the birth year, card numbers, postcode, round loan amounts;
* C: an English-headed list of Latin-script names sorted by customer id (a few
  gaps: a list numbered without one gets no canaries at all), with
  first.last emails;
* D: shape B with gaps in both code columns, as a filtered list has them
  (member numbers skip 1-4 numbers after 30% of rows, contract numbers
  after 10%): canaries must sit where both columns have room, and the
  joint-gap checks look at how they sit there.
* L: a loan book of 20 columns (member and contract numbers with gaps as in
  D, tier, principal mostly from a menu, a product's annual rate, term in
  months, grant and maturity dates, the monthly payment and the balance by
  the annuity schedule): a leaker recomputes each contract and deletes the
  rows whose contract does not add up.
* E: a deposit list numbered as customers came (customer numbers rise with
  the opening date), in no order, with 生肖, 星座 and 年龄段 from the
  birthdate, an occupation that follows the age, and emails spelling the
  whole name in pinyin: a leaker recomputes each, and sorts by customer
  number to see the opening dates rise.

A check flags rows; it is reported as canaries flagged / canaries and real
rows flagged / real rows, and how many of the flagged canaries are pooled
ones (shared by several exports: they survive a merge of colluders' copies,
so a tell on them costs most). TELL marks a check that flags at least 20% of the
canaries at a rate at least 5 times (``--tell-ratio``) the real rows' rate:
deleting what it flags would cost the leaker few real rows and remove many
canaries. ``weak`` marks a check that flags some canaries at more than 3
times the real rate without being a TELL. (The rule of the sweep this
benchmark grew from; at a few hundred rows there are 1 to 3 canaries, so a
single one flagged can make a TELL there: read the larger sizes.)

Everything is reproducible from ``--seed``: the lists, and (a benchmark-only
shortcut, as in forensic_power.py; real homes use a random key) the tracer key,
the export ids and the exports' date, so the canaries are the same on every
run. ``--json`` writes the same figures plus the machine and the commit.

    python bench/canary_tells.py                          # 5,000 and 50,000 rows, ~30 s on 2 cores
    python bench/canary_tells.py --rows 200 5000 50000 --shapes A B C --json bench/out/tells.json
    python bench/canary_tells.py --rows 2000 --shapes B --workdir /tmp/tells --tell-ratio 10
"""

from __future__ import annotations

import argparse
import bisect
import csv
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

import duckdb

from canary import validators
from canary.idcard import build_id, id_info
from canary.kinds import Kind
from canary.names import GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, PINYIN, split_name
from canary.phones import is_valid_mobile
from canary.prf import Key
from canary.regions import REGIONS, region_in_address
from tracer import ExportRequest, Home, export, init
from tracer.synthdata import make_customers, write_csv

from benchinfo import code_version, machine, work_dir, write_json  # this folder: the scripts run as plain scripts

BENCH_DIR = Path(__file__).resolve().parent
AS_OF = date(2026, 12, 2)  # "today" for the lists, the exports and the checks: fixed, so runs repeat
RECIPIENT, PURPOSE = "Leaker Co", "benchmark: canary tells"
TELL_SHARE = 0.2  # a TELL flags at least this share of the canaries...
TELL_RATIO = 5.0  # ...at this many times the real rows' rate (default of --tell-ratio)
WEAK_RATIO = 3.0
NEAR_TWIN_ABOVE = "previous row is a near twin (>= 3/4 of coarse fields equal)"  # the smoke test reads this

# -- the lists ------------------------------------------------------------------

SURNAME_PINYIN = {"王": "wang", "李": "li", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "黄": "huang",
                  "赵": "zhao", "吴": "wu", "周": "zhou", "徐": "xu", "孙": "sun", "马": "ma", "朱": "zhu",
                  "胡": "hu", "郭": "guo", "何": "he", "高": "gao", "林": "lin", "罗": "luo"}
SURNAME_WEIGHTS = [1 / (i + 1) ** 0.7 for i in range(len(SURNAME_PINYIN))]  # a few surnames dominate
CARRIER_PREFIXES = {
    "中国移动": "134 135 136 137 138 139 150 151 152 157 158 159 182 183 187 188".split(),
    "中国联通": "130 131 132 155 156 185 186".split(),
    "中国电信": "133 153 180 181 189".split(),
}
CARRIER = {p: c for c, ps in CARRIER_PREFIXES.items() for p in ps}
PREFIXES = sorted(CARRIER)
CARD_BINS = ("622848", "622202", "621700", "622588", "622908")
EN_FIRST_M = "James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew".split()
EN_FIRST_F = "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa".split()
EN_LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Wilson Anderson Taylor Thomas Moore".split()
DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "sina.com")
STREETS = "人民 解放 中山 建设 和平 胜利 新华 文化 长江 黄河".split()


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    body = rng.choice(CARD_BINS) + "".join(str(rng.randrange(10)) for _ in range(12))
    return body + _luhn_digit(body)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _postcode(region_code: str) -> str:
    """One stable postcode per city."""
    return f"{(int(region_code[:4]) * 37) % 900000 + 100000:06d}"[:4] + "00"


def _unique(draw: Callable[[], str], used: set[str]) -> str:
    while True:
        v = draw()
        if v not in used:
            used.add(v)
            return v


def _birth_and_opening(rng: random.Random) -> tuple[date, date]:
    born = date(1955, 1, 1) + timedelta(days=rng.randrange(365 * 50))
    opened = born + timedelta(days=16 * 366 + rng.randrange(365 * 20))
    if opened > AS_OF:
        opened = AS_OF - timedelta(days=rng.randrange(300) + 1)
    return born, opened


def shape_b(n: int, rng: random.Random, member_gaps: float = 0.03, contract_gaps: float = 0.0,
            wide: int = 1) -> list[dict[str, str]]:
    """Shape B; with ``contract_gaps`` and ``wide``, shape D (a gap skips 1..wide numbers)."""
    regions = list(REGIONS.values())
    rows, vip, contract, used_ids, used_phones = [], 0, 123, set(), set()
    for _ in range(n):
        # member numbers with a few gaps (B draws exactly as it always did)
        vip += 1 if rng.random() > member_gaps else 1 + (rng.randint(1, wide) if wide > 1 else 1)
        if contract_gaps:
            contract += 1 if rng.random() > contract_gaps else 1 + (rng.randint(1, wide) if wide > 1 else 1)
        else:
            contract += 1
        reg = rng.choice(regions)
        male = rng.random() < 0.5
        born, opened = _birth_and_opening(rng)
        idno = _unique(lambda: build_id(reg.code, born, rng.randrange(500) * 2 + male), used_ids)
        surname = rng.choices(list(SURNAME_PINYIN), SURNAME_WEIGHTS)[0]
        chars = GIVEN_CHARS_MALE if male else GIVEN_CHARS_FEMALE
        given = "".join(rng.choice(chars) for _ in range(rng.choice([1, 2, 2])))
        phone = _unique(lambda: rng.choice(PREFIXES) + f"{rng.randrange(10 ** 8):08d}", used_phones)
        email = f"{SURNAME_PINYIN[surname]}{born.year % 100:02d}{rng.randrange(1000)}@{rng.choice(DOMAINS)}"
        loan = rng.choice([5, 10, 20, 30, 50, 80, 100, 150, 200, 300, 500]) * 10000
        address = (f"{reg.full_name}{rng.choice(STREETS)}路{rng.randrange(1, 300)}号{rng.randrange(1, 20)}栋"
                   f"{rng.randrange(1, 30)}0{rng.randrange(1, 5)}室")
        rows.append({
            "会员号": f"VIP{vip:06d}", "合同号": f"HT2024{contract:06d}", "姓名": surname + given,
            "性别": "男" if male else "女", "身份证号": idno, "出生日期": born.isoformat(),
            "年龄": str(_age(born, AS_OF)), "手机号": phone, "运营商": CARRIER[phone[:3]], "邮箱": email,
            "银行卡号": _card(rng), "省份": reg.province, "城市": reg.city, "邮编": _postcode(reg.code),
            "地址": address, "开户网点": f"{reg.city_short}{reg.district_short}支行", "开户日期": opened.isoformat(),
            "贷款金额": f"{loan}.00", "信用分": str(rng.randrange(350, 851)),
        })
    return rows


def shape_c(n: int, rng: random.Random) -> list[dict[str, str]]:
    regions = list(REGIONS.values())
    rows, used_phones, used_emails = [], set(), set()
    number = 122
    for _ in range(n):
        number += 1 if rng.random() > 0.03 else 2  # ids with a few gaps (closed accounts)
        male = rng.random() < 0.5
        first, last = rng.choice(EN_FIRST_M if male else EN_FIRST_F), rng.choice(EN_LAST)
        born, opened = _birth_and_opening(rng)
        email = _unique(lambda: f"{first.lower()}.{last.lower()}{rng.randrange(100)}@{rng.choice(DOMAINS)}",
                        used_emails)
        phone = _unique(lambda: rng.choice(PREFIXES) + f"{rng.randrange(10 ** 8):08d}", used_phones)
        reg = rng.choice(regions)
        rows.append({
            "customer_id": f"HT2024{number:06d}", "name": f"{first} {last}", "gender": "M" if male else "F",
            "email": email, "dob": born.isoformat(), "age": str(_age(born, AS_OF)), "phone": phone,
            "card_no": _card(rng), "city": reg.city, "postcode": _postcode(reg.code), "open_date": opened.isoformat(),
            "loan_amount": str(rng.choice([5, 10, 20, 50, 100]) * 10000), "credit_score": str(rng.randrange(350, 851)),
        })
    return rows


# Shape L: a loan book. Each contract adds up as a leaker recomputes it:
# maturity = grant + term months, payment = the annuity rounded to the cent,
# balance = the principal still owed after the payments due by AS_OF.
LOAN_TIERS = {"普通": (50, [3, 5, 8, 10, 15, 20]), "银卡": (30, [10, 15, 20, 30, 50]),
              "金卡": (15, [30, 50, 80, 100]), "白金": (5, [50, 100, 150, 200, 300])}  # weight, menu (10,000s)
LOAN_TERMS = {12: ("4.35",), 24: ("4.75",), 36: ("4.75", "5.50"), 60: ("4.75", "5.50"), 120: ("4.90",)}
LOAN_TERM_WEIGHTS = (20, 20, 30, 20, 10)


def add_months(d: date, months: int) -> date:
    """``d`` plus whole months, the day kept or the month's last (01-31 + 1 month = 02-28)."""
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    last = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, m, min(d.day, last))


def annuity(principal: float, annual_pct: float, term: int) -> float:
    """The monthly payment of an annuity loan, unrounded."""
    i = annual_pct / 1200
    return principal * i / (1 - (1 + i) ** -term)


def payments_made(start: date, term: int, on: date) -> int:
    """Monthly payments due by ``on`` (the first a month after the grant)."""
    k = (on.year - start.year) * 12 + on.month - start.month
    if k > 0 and add_months(start, k) > on:
        k -= 1
    return max(0, min(term, k))


def schedule_balance(principal: float, annual_pct: float, term: int, paid: int, payment: float) -> float:
    """Principal still owed after ``paid`` payments of ``payment`` (closed form), unrounded."""
    if paid >= term:
        return 0.0
    i = annual_pct / 1200
    g = (1 + i) ** paid
    return principal * g - payment * (g - 1) / i


def shape_l(n: int, rng: random.Random) -> list[dict[str, str]]:
    regions = list(REGIONS.values())
    tiers = list(LOAN_TIERS)
    rows, vip, contract, used_ids, used_phones = [], 0, 123, set(), set()
    for _ in range(n):
        vip += 1 if rng.random() > 0.3 else 1 + rng.randint(1, 4)  # gaps in both codes, as in shape D
        contract += 1 if rng.random() > 0.1 else 1 + rng.randint(1, 4)
        reg = rng.choice(regions)
        male = rng.random() < 0.5
        born = date(1958, 1, 1) + timedelta(days=rng.randrange(365 * 44))
        first = max(date(2016, 1, 1), _sixteenth(born) + timedelta(days=2 * 366))  # 18 at the grant
        start = first + timedelta(days=rng.randrange(max(1, (AS_OF - first).days)))
        term = rng.choices(list(LOAN_TERMS), LOAN_TERM_WEIGHTS)[0]
        rate = rng.choice(LOAN_TERMS[term])
        tier = rng.choices(tiers, [w for w, _ in LOAN_TIERS.values()])[0]
        if rng.random() < 0.85:
            principal = rng.choice(LOAN_TIERS[tier][1]) * 10000.0
        else:  # a car or a house bought for its price: any amount, with cents
            principal = round(rng.uniform(0.5, 1.5) * rng.choice(LOAN_TIERS[tier][1]) * 10000, 2)
        payment = round(annuity(principal, float(rate), term), 2)
        paid = payments_made(start, term, AS_OF)
        balance = round(schedule_balance(principal, float(rate), term, paid, payment), 2)
        idno = _unique(lambda: build_id(reg.code, born, rng.randrange(500) * 2 + male), used_ids)
        surname = rng.choices(list(SURNAME_PINYIN), SURNAME_WEIGHTS)[0]
        chars = GIVEN_CHARS_MALE if male else GIVEN_CHARS_FEMALE
        given = "".join(rng.choice(chars) for _ in range(rng.choice([1, 2, 2])))
        phone = _unique(lambda: rng.choice(PREFIXES) + f"{rng.randrange(10 ** 8):08d}", used_phones)
        address = (f"{reg.full_name}{rng.choice(STREETS)}路{rng.randrange(1, 300)}号{rng.randrange(1, 20)}栋"
                   f"{rng.randrange(1, 30)}0{rng.randrange(1, 5)}室")
        rows.append({
            "会员号": f"VIP{vip:06d}", "合同号": f"HT2024{contract:06d}", "姓名": surname + given,
            "性别": "男" if male else "女", "身份证号": idno, "出生日期": born.isoformat(), "手机号": phone,
            "运营商": CARRIER[phone[:3]], "地址": address, "城市": reg.city,
            "开户网点": f"{reg.city_short}{reg.district_short}支行", "客户等级": tier,
            "贷款金额": f"{principal:.2f}", "年利率(%)": rate, "期限(月)": str(term),
            "放款日期": start.isoformat(), "到期日期": add_months(start, term).isoformat(),
            "月供": f"{payment:.2f}", "贷款余额": f"{balance:.2f}", "信用分": str(rng.randrange(350, 851)),
        })
    return rows


ANIMALS = "鼠牛虎兔龙蛇马羊猴鸡狗猪"
SIGN_STARTS = ((1, 20, "水瓶座"), (2, 19, "双鱼座"), (3, 21, "白羊座"), (4, 20, "金牛座"), (5, 21, "双子座"), (6, 22, "巨蟹座"),
               (7, 23, "狮子座"), (8, 23, "处女座"), (9, 23, "天秤座"), (10, 24, "天蝎座"), (11, 23, "射手座"),
               (12, 22, "摩羯座"))
WORKING = ("职员", "工人", "教师", "医生", "个体经营", "公务员", "农民", "自由职业", "销售", "工程师")


def _sign(born: date) -> str:
    return next((name for m, d, name in reversed(SIGN_STARTS) if (born.month, born.day) >= (m, d)), "摩羯座")


def _occupation(age: int, rng: random.Random) -> str:
    if age >= 60 or (age >= 55 and rng.random() < 0.5):
        return "退休"
    if age < 23 and rng.random() < 0.7:
        return "学生"
    return rng.choice(WORKING)


def shape_e(n: int, rng: random.Random) -> list[dict[str, str]]:
    """Shape E: a deposit list numbered as customers came (customer numbers
    rise with the opening date, a few skipped), in no order, with what such
    lists derive from the birthdate (生肖, 星座, 年龄段), an occupation that
    follows the age, and emails spelling the whole name in pinyin."""
    regions = list(REGIONS.values())
    people, used_ids, used_phones = [], set(), set()
    for _ in range(n):
        reg = rng.choice(regions)
        male = rng.random() < 0.5
        born, opened = _birth_and_opening(rng)
        surname = rng.choices(list(SURNAME_PINYIN), SURNAME_WEIGHTS)[0]
        given = "".join(rng.choice(GIVEN_CHARS_MALE if male else GIVEN_CHARS_FEMALE)
                        for _ in range(rng.choice([1, 2, 2])))
        age = _age(born, AS_OF)
        people.append({
            "客户号": "", "姓名": surname + given, "性别": "男" if male else "女",
            "身份证号": _unique(lambda: build_id(reg.code, born, rng.randrange(500) * 2 + male), used_ids),
            "手机号": _unique(lambda: rng.choice(PREFIXES) + f"{rng.randrange(10 ** 8):08d}", used_phones),
            "邮箱": (f"{PINYIN[surname]}{''.join(PINYIN[c] for c in given)}{rng.randrange(100, 1000)}"
                   f"@{rng.choice(DOMAINS)}"),
            "地址": (f"{reg.full_name}{rng.choice(STREETS)}路{rng.randrange(1, 300)}号{rng.randrange(1, 20)}栋"
                   f"{rng.randrange(1, 30)}0{rng.randrange(1, 5)}室"),
            "开户网点": f"{reg.city_short}{reg.district_short}支行", "开户日期": opened.isoformat(),
            "客户等级": rng.choices(["普通", "金卡", "白金"], [0.7, 0.25, 0.05])[0],
            "存款余额": f"{rng.lognormvariate(10, 1.2):.2f}", "生肖": ANIMALS[(born.year - 4) % 12], "星座": _sign(born),
            "年龄段": f"{age // 10 * 10}-{age // 10 * 10 + 9}岁", "职业": _occupation(age, rng),
        })
    number = 8800000000
    for p in sorted(people, key=lambda p: p["开户日期"]):
        number += 1 if rng.random() > 0.2 else rng.randint(2, 5)
        p["客户号"] = str(number)
    return people


def _write_rows(rows: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@dataclass(frozen=True)
class Shape:
    write: Callable[[int, int, Path], None]  # (rows, seed, path)
    key_column: str  # identifier that tells a canary's row apart in the exported file


SHAPES: dict[str, Shape] = {
    "A": Shape(lambda n, seed, path: write_csv(make_customers(n, seed=seed), path), "身份证号"),
    "B": Shape(lambda n, seed, path: _write_rows(shape_b(n, random.Random(seed)), path), "身份证号"),
    "C": Shape(lambda n, seed, path: _write_rows(shape_c(n, random.Random(seed)), path), "customer_id"),
    "D": Shape(lambda n, seed, path: _write_rows(shape_b(n, random.Random(seed), 0.3, 0.1, wide=4), path), "身份证号"),
    "L": Shape(lambda n, seed, path: _write_rows(shape_l(n, random.Random(seed)), path), "身份证号"),
    "E": Shape(lambda n, seed, path: _write_rows(shape_e(n, random.Random(seed)), path), "身份证号"),
}


def sub_seed(seed: int, *parts: object) -> int:
    """A seed of its own for each list and export, derived from --seed."""
    text = "/".join(map(str, ("tracer/bench/canary_tells", seed, *parts)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# -- exporting, and the ground truth ---------------------------------------------

@dataclass
class Exported:
    header: list[str]
    cells: list[dict[str, str]]  # every exported row, in file order
    is_canary: list[bool]
    is_pooled: list[bool]  # a pooled canary (shared by a keyed subset of exports)
    export_seconds: float


def export_list(shape: str, rows: int, seed: int, work: Path) -> Exported:
    name = f"{shape}_{rows}"
    src, out, home = work / f"{name}.source.csv", work / f"{name}.csv", Home.at(work / f"home_{name}")
    SHAPES[shape].write(rows, sub_seed(seed, shape, rows, "list"), src)
    shutil.rmtree(home.root, ignore_errors=True)  # a kept --workdir: the key file is written exclusively
    # Benchmark only: a key, export id and date derived from the seed make the canaries reproducible.
    home.write_key(Key(hashlib.sha256(f"tracer/bench/canary_tells/{seed}".encode()).digest()))
    init(home)
    export_id = f"ex-{sub_seed(seed, shape, rows, 'export'):016x}"[:13]
    t0 = time.perf_counter()
    export(ExportRequest(str(src), RECIPIENT, PURPOSE, str(out), export_id=export_id,
                         now=datetime(AS_OF.year, AS_OF.month, AS_OF.day, 9)), home=home)
    seconds = time.perf_counter() - t0

    with open(out, newline="", encoding="utf-8-sig") as f:
        header, *body = list(csv.reader(f))
    cells = [dict(zip(header, r)) for r in body]
    con = duckdb.connect(str(home.store_path), read_only=True)
    try:
        truth = con.execute("SELECT c.row_json, c.shared_id FROM canaries c JOIN exports e USING (export_no) "
                            "WHERE e.export_id = ?", [export_id]).fetchall()
    finally:
        con.close()
    key = SHAPES[shape].key_column
    pooled_by_key = {json.loads(row_json)[key]: shared is not None for row_json, shared in truth}
    is_canary = [r[key] in pooled_by_key for r in cells]
    is_pooled = [pooled_by_key.get(r[key], False) for r in cells]
    if sum(is_canary) != len(truth) or len(cells) - sum(is_canary) != rows:
        raise RuntimeError(f"{name}: {sum(is_canary)} rows of {out.name} match the store's {len(truth)} canaries "
                           f"by {key}; expected {rows} real rows besides them")
    return Exported(header, cells, is_canary, is_pooled, seconds)


# -- the leaker's checks ----------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def _shape_of(s: str) -> str:
    """Letters, digit runs and CJK runs collapsed: 'wang85123@qq.com' -> 'LD@L.L'."""
    s = re.sub(r"[A-Za-z]+", "L", s)
    s = re.sub(r"\d+", "D", s)
    return re.sub(r"[\u4e00-\u9fff]+", "C", s)


def _date(s: str) -> date | None:
    try:
        return date.fromisoformat(s)
    except ValueError:
        return None


def _luhn_ok(digits: str) -> bool:
    """Luhn, written out as a leaker would (not canary.synth's: the check is not the code it checks)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        x = int(ch) * (2 if i % 2 else 1)
        total += x - 9 if x > 9 else x
    return total % 10 == 0


def _family_name(name: str) -> str:
    """'王小明' -> '王', 'John Smith' -> 'Smith'."""
    if _CJK.search(name):
        return split_name(name)[0] if name.strip() else ""
    words = name.split()
    return words[-1] if words else ""


def _central(values: list) -> tuple:
    """The list's 0.1th and 99.9th percentiles: outside them is an outlier."""
    s = sorted(values)
    return s[len(s) // 1000], s[-1 - len(s) // 1000]


def _rare(values: list, below: float) -> set[int]:
    """Rows whose value makes up less than ``below`` of the list."""
    counts, n = Counter(values), len(values)
    return {i for i, v in enumerate(values) if counts[v] < below * n}


def _not_usual(groups: list, values: list) -> set[int]:
    """Rows whose value is not the commonest one among rows of the same group."""
    by_group: dict = defaultdict(Counter)
    for g, v in zip(groups, values):
        by_group[g][v] += 1
    usual = {g: c.most_common(1)[0][0] for g, c in by_group.items()}
    return {i for i, (g, v) in enumerate(zip(groups, values)) if usual[g] != v}


class ExportedList:
    """The exported file as a leaker sees it: the header tells which column is which."""

    def __init__(self, header: list[str], rows: list[dict[str, str]]) -> None:
        self.header, self.rows, self.n = header, rows, len(rows)

    def col(self, *names: str) -> str | None:
        return next((c for c in names if c in self.header), None)

    def values(self, column: str) -> list[str]:
        return [r[column] for r in self.rows]


Checks = dict[str, set[int]]  # check name -> indexes of the rows it flags


def id_checks(t: ExportedList, out: Checks) -> None:
    ID, BR, BD = t.col("身份证号"), t.col("开户网点"), t.col("出生日期", "dob")
    kinds = {Kind.IDNO: ID, Kind.PHONE: t.col("手机号", "phone"), Kind.ADDRESS: t.col("地址"),
             Kind.GENDER: t.col("性别", "gender"), Kind.BIRTHDATE: BD, Kind.AGE: t.col("年龄", "age")}
    kinds = {k: c for k, c in kinds.items() if c}
    # What a careful buyer validates first: tracer's own validators (checksums, agreement with the ID).
    out["fails tracer's validators (ID, phone, address, gender, birthdate, age)"] = {
        i for i, r in enumerate(t.rows) if validators.row_problems({k: r[c] for k, c in kinds.items()}, today=AS_OF)}
    if not ID:
        return
    infos = [id_info(v, today=AS_OF) for v in t.values(ID)]
    regions = [REGIONS.get(f.region) if f else None for f in infos]
    if "城市" in t.header:
        out["ID region's city differs from the 城市 column"] = {
            i for i, (r, g) in enumerate(zip(t.rows, regions)) if g and g.city != r["城市"]}
    if BR:
        out["ID region's city not in the branch name"] = {
            i for i, (r, g) in enumerate(zip(t.rows, regions)) if g and g.city_short not in r[BR]}
    # A county's IDs come from a few police stations (digits 15-16): a foreign block stands out.
    out["ID station block (digits 15-16) rare (< 0.2% of rows)"] = _rare([v[14:16] for v in t.values(ID)], 0.002)
    lo, hi = _central([f.birthdate.year for f in infos if f])
    out["ID birth year outside the list's 0.1-99.9 percentiles"] = {
        i for i, f in enumerate(infos) if f and not lo <= f.birthdate.year <= hi}
    if BD:
        out["ID birthdate differs from the birthdate column"] = {
            i for i, (r, f) in enumerate(zip(t.rows, infos)) if f and f.birthdate.isoformat() != r[BD]}


def phone_checks(t: ExportedList, out: Checks) -> None:
    PH = t.col("手机号", "phone")
    if not PH:
        return
    phones = t.values(PH)
    out["phone prefix not issued"] = {i for i, v in enumerate(phones) if not is_valid_mobile(v)}
    out["phone prefix rare (< 0.2% of rows)"] = _rare([v[:3] for v in phones], 0.002)
    if "运营商" in t.header:
        out["carrier not the phone prefix's usual one"] = _not_usual([v[:3] for v in phones], t.values("运营商"))


def name_checks(t: ExportedList, out: Checks) -> None:
    NM = t.col("姓名", "name")
    # A canary drawn from a generator may reuse an identifier or a name.
    for c in (t.col("手机号", "phone"), t.col("身份证号"), NM, t.col("邮箱", "email"), t.col("银行卡号", "card_no")):
        if c:
            counts = Counter(t.values(c))
            out[f"{c} occurs more than once"] = {i for i, v in enumerate(t.values(c)) if counts[v] > 1}
    if not NM:
        return
    names = t.values(NM)
    script = [(bool(_LATIN.search(v)), bool(_CJK.search(v))) for v in names]
    usual = Counter(script).most_common(1)[0][0]
    out["name script (Latin/Chinese) differs from most rows'"] = {i for i, s in enumerate(script) if s != usual}
    families = Counter(_family_name(v) for v in names)
    out["family name rare (at most 2 rows)"] = {i for i, v in enumerate(names) if families[_family_name(v)] <= 2}
    out["name length rare (< 1% of rows)"] = _rare([len(v) for v in names], 0.01)


def code_checks(t: ExportedList, out: Checks) -> None:
    """Customer, member and contract numbers: a canary's number may sit apart from
    the others, break the list's order, or have another shape."""
    for c in (x for x in ("客户号", "会员号", "合同号", "customer_id") if x in t.header):
        codes = t.values(c)
        parsed = [re.fullmatch(r"([A-Za-z]*)(\d+)", v) for v in codes]
        nums = [int(m.group(2)) if m else None for m in parsed]
        ordered = sorted(x for x in nums if x is not None)

        def gap(x: int) -> int:  # to the nearest other number (ordered holds x itself)
            j = bisect.bisect_left(ordered, x)
            return min((abs(ordered[k] - x) for k in (j - 1, j + 1) if 0 <= k < len(ordered)), default=0)

        median_gap = sorted(gap(x) for x in ordered)[len(ordered) // 2]
        out[f"{c}: isolated (nearest number > 20x the median gap)"] = {
            i for i, x in enumerate(nums) if x is not None and gap(x) > 20 * max(median_gap, 1)}
        # Contract-style codes carry a year (HT2024...): a canary's may be another year.
        usual = Counter(v[:6] for v in codes).most_common(1)[0][0]
        if re.fullmatch(r"[A-Za-z]{2}(19|20)\d\d", usual):
            out[f"{c}: year (characters 3-6) not the usual one"] = {
                i for i, v in enumerate(codes) if v[2:6] != usual[2:]}
        out[f"{c}: breaks the ascending order of its neighbours"] = {
            i for i in range(1, t.n - 1) if None not in (nums[i - 1], nums[i], nums[i + 1])
            and nums[i - 1] < nums[i + 1] and not nums[i - 1] < nums[i] < nums[i + 1]}
        out[f"{c}: shape and length rare (< 1% of rows)"] = _rare([_shape_of(v) + str(len(v)) for v in codes], 0.01)
    if "会员号" in t.header and "合同号" in t.header:
        joint_gap_checks(t, out)


def joint_gap_checks(t: ExportedList, out: Checks) -> None:
    """A list sorted by two code columns: a canary must sit in a gap both
    leave, so a leaker who knows that looks at how each row sits between its
    neighbours in both columns."""
    m = [int(d) if (d := re.sub(r"\D", "", v)) else 0 for v in t.values("会员号")]
    c = [int(d) if (d := re.sub(r"\D", "", v)) else 0 for v in t.values("合同号")]
    inner = range(1, t.n - 1)
    dm = {i: (m[i] - m[i - 1], m[i + 1] - m[i]) for i in inner}
    dc = {i: (c[i] - c[i - 1], c[i + 1] - c[i]) for i in inner}
    out["both codes +1 from the row before and to the row after"] = {
        i for i in inner if dm[i] == dc[i] == (1, 1)}
    out["a gap in both codes before the row"] = {i for i in inner if dm[i][0] > 1 and dc[i][0] > 1}
    out["a gap in both codes after the row"] = {i for i in inner if dm[i][1] > 1 and dc[i][1] > 1}
    out["neighbours more than 2 apart in both codes"] = {i for i in inner if sum(dm[i]) > 2 and sum(dc[i]) > 2}
    offset = [b - a for a, b in zip(m, c)]
    out["contract minus member number off its 11-row running median by > 2"] = {
        i for i in range(5, t.n - 5) if abs(offset[i] - sorted(offset[i - 5:i + 6])[5]) > 2}


def email_checks(t: ExportedList, out: Checks) -> None:
    EM, NM, BD = t.col("邮箱", "email"), t.col("姓名", "name"), t.col("出生日期", "dob")
    if not EM:
        return
    locals_ = [v.split("@")[0] for v in t.values(EM)]
    out["email local part shape rare (< 1% of rows)"] = _rare([_shape_of(v) for v in locals_], 0.01)
    if not NM:
        return
    names = t.values(NM)
    if sum(bool(_CJK.search(v)) for v in names) < t.n / 2:
        # Lists of Latin names build addresses from them: john.smith12@...
        out["email local part has no word of the name"] = {
            i for i, (loc, nm) in enumerate(zip(locals_, names)) if not any(p.lower() in loc for p in nm.split())}
        return
    # Lists of Chinese names spell the surname in pinyin (wang85...), the same for every 王.
    spelling = [re.match(r"[a-z]*", loc).group(0) for loc in locals_]
    out["email letters not the usual spelling of the surname"] = _not_usual([_family_name(v) for v in names],
                                                                            spelling)
    if BD:
        out["email digits do not start with the birth year (yy)"] = {
            i for i, (loc, r) in enumerate(zip(locals_, t.rows)) if not re.sub(r"\D", "", loc).startswith(r[BD][2:4])}


def card_checks(t: ExportedList, out: Checks) -> None:
    CARD = t.col("银行卡号", "card_no")
    if CARD:
        cards = t.values(CARD)
        out["card number fails Luhn"] = {i for i, v in enumerate(cards) if not _luhn_ok(v)}
        out["card BIN (first 6 digits) rare (< 0.5% of rows)"] = _rare([v[:6] for v in cards], 0.005)


def amount_checks(t: ExportedList, out: Checks) -> None:
    """Balances and loans: a canary's amount may be rounded differently from the list's."""
    AMT = t.col("月日均存款", "贷款金额", "loan_amount")
    if not AMT:
        return
    amounts = t.values(AMT)
    out[f"{AMT}: has cents other than .00"] = {i for i, v in enumerate(amounts) if "." in v and not v.endswith(".00")}
    out[f"{AMT}: not a multiple of 1000"] = {i for i, v in enumerate(amounts) if float(v) % 1000 != 0}
    out[f"{AMT}: whole part a multiple of 1000, cents not .00"] = {
        i for i, v in enumerate(amounts) if "." in v and int(v.split(".")[0]) % 1000 == 0 and not v.endswith(".00")}
    out[f"{AMT}: last digit rare (< 5% of rows)"] = _rare([v.replace(".", "")[-1] for v in amounts], 0.05)


def date_checks(t: ExportedList, out: Checks) -> None:
    """Opening dates and birthdates: a canary's may be implausible for its age."""
    OPEN, BD, ID, AG = t.col("开户日期", "open_date"), t.col("出生日期", "dob"), t.col("身份证号"), t.col("年龄", "age")
    if ID:
        born = [f.birthdate if f else None for f in (id_info(v, today=AS_OF) for v in t.values(ID))]
    elif BD:
        born = [_date(v) for v in t.values(BD)]
    else:
        born = None
    if OPEN:
        opened = [_date(v) for v in t.values(OPEN)]
        out["opening date in the future"] = {i for i, d in enumerate(opened) if d and d > AS_OF}
        lo, hi = _central([d for d in opened if d])
        out["opening date outside the list's 0.1-99.9 percentiles"] = {
            i for i, d in enumerate(opened) if d and not lo <= d <= hi}
        if born:
            pairs = [(b, d) if b and d else None for b, d in zip(born, opened)]
            out["opened before age 16"] = {i for i, p in enumerate(pairs) if p and _age(*p) < 16}
            out["opened before age 18"] = {i for i, p in enumerate(pairs) if p and _age(*p) < 18}
            # A canary pushed to "old enough" may land just past its 16th birthday.
            out["opened within 61 days after the 16th birthday"] = {
                i for i, p in enumerate(pairs) if p and timedelta(0) <= p[1] - _sixteenth(p[0]) <= timedelta(days=61)}
    if BD:
        births = [_date(v) for v in t.values(BD)]
        lo, hi = _central([d.year for d in births if d])
        out["birth year outside the list's 0.1-99.9 percentiles"] = {
            i for i, d in enumerate(births) if d and not lo <= d.year <= hi}
        if AG:
            out["age column differs from the birthdate's age"] = {
                i for i, (r, d) in enumerate(zip(t.rows, births)) if d and str(_age(d, AS_OF)) != r[AG]}


def _sixteenth(born: date) -> date:
    try:
        return born.replace(year=born.year + 16)
    except ValueError:  # 29 February
        return born.replace(year=born.year + 16, day=28)


def address_checks(t: ExportedList, out: Checks) -> None:
    AD, BR = t.col("地址"), t.col("开户网点")
    if AD:
        addresses = t.values(AD)
        out["address shape rare (< 1% of rows)"] = _rare([_shape_of(v) for v in addresses], 0.01)
        if BR:
            cities = [(lambda g: g.code[:4] if g else None)(region_in_address(v)) for v in addresses]
            out["address city not the branch's usual one"] = _not_usual(t.values(BR), cities)
        # Canaries' house numbers were once drawn small.
        out["a house number (digits before 号) of 9 or less"] = {
            i for i, v in enumerate(addresses) if any(int(x) <= 9 for x in re.findall(r"(\d+)号", v))}
    PC, CITY = t.col("邮编", "postcode"), t.col("城市", "city")
    if PC and CITY:
        out["postcode not the city's usual one"] = _not_usual(t.values(CITY), t.values(PC))
    # Text a generator wrote differently from the source system.
    out["a cell with outer spaces, a full-width character or a quote"] = {
        i for i, r in enumerate(t.rows)
        if any(v != v.strip() or re.search(r"[\uff00-\uffef'\"]", v) for v in r.values())}


def twin_checks(t: ExportedList, out: Checks) -> None:
    """A canary is made from a real row of the list (its donor): a leaker looks for
    pairs of rows that agree on everything but the identifying details."""
    ID, NM, PH, CARD = t.col("身份证号"), t.col("姓名", "name"), t.col("手机号", "phone"), t.col("银行卡号", "card_no")
    AMT = t.col("月日均存款", "贷款金额", "loan_amount")
    CODES = {c for c in ("客户号", "会员号", "合同号", "customer_id") if c in t.header}
    DATES = {t.col("开户日期", "open_date"), t.col("出生日期", "dob"), t.col("年龄", "age"), t.col("邮箱", "email")}

    def coarse(r: dict[str, str]) -> list[str]:
        fields = []
        for h in t.header:
            v = r[h]
            if h == ID:
                fields.append(v[:6])  # region
            elif h == NM:
                fields.append(v[:1])
            elif h == AMT and "." in v:
                fields.append(str(int(float(v)) // 20))  # balance to within about 20 yuan
            elif h in (PH, CARD) or h in CODES:
                fields.append(v[:4])
            else:
                fields.append(_DIGITS.sub("#", v))  # dates, addresses, numbers: digits dropped
        return fields

    rough = [coarse(r) for r in t.rows]
    need = math.ceil(0.75 * len(t.header))
    # A canary written right below its donor.
    out[NEAR_TWIN_ABOVE] = {i for i in range(1, t.n) if sum(a == b for a, b in zip(rough[i], rough[i - 1])) >= need}
    keep = [j for j, h in enumerate(t.header) if h not in DATES]
    keys = [tuple(f[j] for j in keep) for f in rough]
    counts = Counter(keys)
    out["another row has the same coarse fields (dates and email aside)"] = {
        i for i, k in enumerate(keys) if counts[k] > 1}

    # What a canary keeps of its donor (canary/synth.py): the ID's region, phone prefix, card BIN,
    # street, surname, gender and every category; the amount nearly. Donor pairs agree on all of it.
    exact = [c for c in ("开户网点", "客户等级", "性别", "gender", "省份", "城市", "city", "邮编", "postcode", "运营商",
                         "信用分", "credit_score") if c in t.header]
    cut = {ID: 6, PH: 3, CARD: 6}

    def donor_key(r: dict[str, str]) -> tuple:
        key = [r[c] for c in exact] + [r[c][:k] for c, k in cut.items() if c]
        if t.col("地址"):
            key.append(_DIGITS.sub("#", r["地址"]))
        if NM and _CJK.search(r[NM]):
            key.append(_family_name(r[NM]))
        return tuple(key)

    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for i, r in enumerate(t.rows):
        groups[donor_key(r)].append((float(r[AMT]) if AMT else 0.0, i))
    pairs: set[int] = set()
    for members in groups.values():
        members.sort()
        for (a, i), (b, j) in zip(members, members[1:]):
            if b - a <= 25:  # yuan: more than a mark or new cents move an amount
                pairs.update((i, j))
    out["another row agrees on all a canary keeps of its donor, amount within 25"] = pairs

    # The same without the amount or the surname (a canary's come from other rows): its donor's
    # street, branch, gender and other places, ID region and police block, phone prefix, and a
    # birth year within one. A review found this pairs every canary (0.8% of real rows).
    place = [c for c in ("开户网点", "性别", "gender", "省份", "城市", "city", "邮编", "postcode", "运营商") if c in t.header]
    born: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for i, r in enumerate(t.rows):
        key = [r[c] for c in place] + ([_DIGITS.sub("#", r["地址"])] if t.col("地址") else [])
        year = 0
        if ID:
            key += [r[ID][:6], r[ID][14:16]]
            info = id_info(r[ID], today=AS_OF)
            year = info.birthdate.year if info else 0
        if PH:
            key.append(r[PH][:3])
        born[tuple(key)].append((year, i))
    out["another row shares its street, branch, gender, ID region and block, phone prefix, birth year +-1"] = \
        _near_pairs(born, 1)
    role_pair_checks(t, out)


def _near_pairs(groups: dict, within: float, also: Callable[[int, int], bool] | None = None) -> set[int]:
    """Rows of one group whose values lie within ``within`` of each other (and,
    where given, ``also(row, row)`` holds): each group a list of (value, row)."""
    near: set[int] = set()
    for members in groups.values():
        members = sorted(members)
        for k, (a, i) in enumerate(members):
            for b, j in members[k + 1:]:
                if b - a > within:
                    break
                if also is None or also(i, j):
                    near.update((i, j))
    return near


def role_pair_checks(t: ExportedList, out: Checks) -> None:
    """A canary takes from three other rows besides its donor (canary/synth.py):
    the mate (surname, phone prefix and carrier), the lender (tier, amounts,
    the free columns) and the timeline row (event dates moved together, the
    birthdate moved within a year). A leaker who knows this
    looks for each pair."""
    ID, NM, PH = t.col("身份证号"), t.col("姓名", "name"), t.col("手机号", "phone")
    AMT = t.col("月日均存款", "贷款金额", "loan_amount")
    BORN, OPENED = t.col("出生日期", "dob"), t.col("开户日期", "open_date", "放款日期")

    def pairs_of(groups) -> set[int]:
        return {i for members in groups.values() if len(members) > 1 for i in members}

    if NM and PH:
        mate: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(t.rows):
            family = _family_name(r[NM]) if _CJK.search(r[NM]) else r[NM].split()[-1] if r[NM].split() else ""
            mate[family, r[PH][:3], r.get("运营商", "")].append(i)
        out["another row shares its surname and phone prefix (a canary's mate)"] = pairs_of(mate)
        if ID:
            # Where the birthdate comes from the mate (a loan list's canary, canary/synth.py).
            aged: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
            for key, members in mate.items():
                for i in members:
                    info = id_info(t.rows[i][ID], today=AS_OF)
                    if info:
                        aged[key].append((info.birthdate.toordinal(), i))
            out["another row shares its surname, phone prefix and carrier, born within a year"] = \
                _near_pairs(aged, 366)

    if AMT:
        free = [c for c in ("客户等级", "信用分", "credit_score") if c in t.header]
        by_free: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
        for i, r in enumerate(t.rows):
            by_free[tuple(r[c] for c in free)].append((float(r[AMT] or 0), i))
        lent: set[int] = set()
        for members in by_free.values():
            members.sort()
            for (a, i), (b, j) in zip(members, members[1:]):
                if b - a < 1:
                    lent.update((i, j))
        out["another row shares its tier and free columns, amount within 1 (a canary's lender)"] = lent

    if OPENED and (ID or BORN):
        lives: list[tuple[int, int, int]] = []  # (birth day, age at opening in days, row)
        for i, r in enumerate(t.rows):
            info = id_info(r[ID], today=AS_OF) if ID else None
            try:
                born = info.birthdate if info else date.fromisoformat(r[BORN])
                lives.append((born.toordinal(), date.fromisoformat(r[OPENED]).toordinal() - born.toordinal(), i))
            except ValueError:
                continue
        buckets: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        for life in lives:
            buckets[life[0] // 366, life[1] // 31].append(life)
        near_life: set[int] = set()
        OCC = t.col("职业", "occupation")
        same_work: set[int] = set()  # ... and the same occupation
        for b, a, i in lives:
            for db in (-1, 0, 1):
                for da in (-1, 0, 1):
                    for b2, a2, j in buckets.get((b // 366 + db, a // 31 + da), ()):
                        if j != i and abs(b2 - b) <= 366 and abs(a2 - a) <= 31:
                            near_life.update((i, j))
                            if OCC and t.rows[i][OCC] == t.rows[j][OCC]:
                                same_work.update((i, j))
        if OCC:
            out["another row born within a year, of the same age at opening within a month and the same "
                "occupation"] = same_work
        out["another row born within a year, of the same age at opening within a month (a canary's timeline)"] = \
            near_life


def contract_checks(t: ExportedList, out: Checks) -> None:
    """A loan's contract recomputed from its own row, as a leaker who knows
    loans does: maturity = grant + term months, the payment the annuity of
    principal, rate and term, the balance what the schedule leaves after the
    payments due by the day of the list. Marks move a grant date by up to 4
    days and a payment or balance by up to 10.50, so each comes exact and
    with a tolerance; the pair check looks for the row a canary's contract
    came from (canary/synth.py)."""
    P, R, N = t.col("贷款金额"), t.col("年利率(%)"), t.col("期限(月)")
    S, M, A, B = t.col("放款日期"), t.col("到期日期"), t.col("月供"), t.col("贷款余额")
    if not (P and R and N and S and M):
        return
    TIER, ID = t.col("客户等级"), t.col("身份证号")
    parsed = []  # (principal, rate, term, start, maturity) or None
    for r in t.rows:
        try:
            parsed.append((float(r[P]), float(r[R]), int(r[N]), date.fromisoformat(r[S]), date.fromisoformat(r[M])))
        except ValueError:
            parsed.append(None)
    ok = [(i, c) for i, c in enumerate(parsed) if c]
    out["到期日期 is not 放款日期 + 期限 months"] = {i for i, (p, r, n, s, m) in ok if add_months(s, n) != m}
    out["到期日期 is not 放款日期 + 期限 months within 4 days"] = {
        i for i, (p, r, n, s, m) in ok if abs((add_months(s, n) - m).days) > 4}
    out["年利率 rare (< 1% of rows)"] = _rare(t.values(R), 0.01)
    out["期限 rare (< 1% of rows)"] = _rare(t.values(N), 0.01)
    out["年利率 not the commonest rate of its 期限"] = _not_usual(t.values(N), t.values(R))
    if A:
        due = {i: annuity(p, r, n) for i, (p, r, n, s, m) in ok}
        paid = {i: float(t.rows[i][A]) for i in due}
        out["月供 is not the annuity to the cent"] = {i for i in due if f"{due[i]:.2f}" != t.rows[i][A]}
        out["月供 off the annuity by more than 1 yuan"] = {i for i in due if abs(due[i] - paid[i]) > 1}
        if B:
            def owed(i: int, k: int) -> float:
                p, r, n, s, m = parsed[i]
                return round(schedule_balance(p, r, n, k, round(due[i], 2)), 2)
            at = {i: payments_made(s, n, AS_OF) for i, (p, r, n, s, m) in ok}
            left = {i: float(t.rows[i][B]) for i in due}
            out["贷款余额 is not the schedule's to the cent"] = {i for i in due if f"{owed(i, at[i]):.2f}" != t.rows[i][B]}
            out["贷款余额 off the schedule by more than 1 yuan"] = {i for i in due if abs(owed(i, at[i]) - left[i]) > 1}
            # A grant date marked across a payment day changes the payments due by one.
            out["贷款余额 off the schedule by more than 1 yuan, one payment either way"] = {
                i for i in due if min(abs(owed(i, k) - left[i]) for k in (at[i] - 1, at[i], at[i] + 1)
                                      if 0 <= k <= parsed[i][2]) > 1}
            out["贷款余额 above 贷款金额, or not 0 after 到期日期"] = {
                i for i, (p, r, n, s, m) in ok if left[i] > p or (m <= AS_OF and left[i] != 0)}
    if ID:
        born = {i: (lambda f: f.birthdate if f else None)(id_info(t.rows[i][ID], today=AS_OF)) for i, _ in ok}
        out["borrowed before age 18"] = {i for i, c in ok if born[i] and _age(born[i], c[3]) < 18}
        ages = [_age(born[i], c[4]) for i, c in ok if born[i]]
        lo, hi = _central(ages)
        out["age at 到期日期 outside the list's 0.1-99.9 percentiles"] = {
            i for i, c in ok if born[i] and not lo <= _age(born[i], c[4]) <= hi}
    # The row a canary's contract came from: same tier, term and rate, the principal within
    # 3% and the grant within 30 days (and the same with the payment within 3% instead).
    groups: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    principal = {}
    for i, (p, r, n, s, m) in ok:
        groups[(t.rows[i][TIER] if TIER else "", r, n)].append((s.toordinal(), i))
        principal[i] = p
    out["another row of the same tier, 期限 and 年利率, 贷款金额 within 3%, 放款日期 within 30 days "
        "(a canary's contract row)"] = _near_pairs(
            groups, 30, lambda i, j: abs(principal[i] - principal[j]) <= 0.03 * max(principal[i], principal[j]))
    # A contract moved by whole months keeps its day of the month.
    by_day: dict[tuple, list[int]] = defaultdict(list)
    for i, (p, r, n, s, m) in ok:
        by_day[(t.rows[i][TIER] if TIER else "", r, n, p, s.day, t.rows[i].get("信用分", ""))].append(i)
    out["another row of the same tier, contract, 信用分 and day of 放款日期"] = {
        i for v in by_day.values() if len(v) > 1 for i in v}


def life_checks(t: ExportedList, out: Checks) -> None:
    """What a list derives from the birthdate and the opening date, recomputed:
    the animal and sign of the birthdate, the age's band, an occupation the
    age rules out, and customer numbers issued in the order customers came."""
    ID, CUST, OPENED = t.col("身份证号"), t.col("客户号"), t.col("开户日期")
    born = [id_info(r[ID], today=AS_OF).birthdate if ID and id_info(r[ID], today=AS_OF) else None for r in t.rows]
    if t.col("生肖"):
        out["生肖 not the birth year's animal"] = {i for i, (r, b) in enumerate(zip(t.rows, born))
                                                 if b and r["生肖"] != ANIMALS[(b.year - 4) % 12]
                                                 and r["生肖"] != ANIMALS[(b.year - 5) % 12]}
    if t.col("星座"):
        out["星座 not the birthdate's sign (a day either way)"] = {
            i for i, (r, b) in enumerate(zip(t.rows, born))
            if b and r["星座"] not in {_sign(b + timedelta(days=k)) for k in (-1, 0, 1)}}
    if t.col("年龄段"):
        def in_band(v: str, age: int) -> bool:
            m = re.match(r"(\d+)-(\d+)", v)
            return bool(m) and int(m.group(1)) <= age <= int(m.group(2))
        out["age outside its 年龄段"] = {i for i, (r, b) in enumerate(zip(t.rows, born))
                                       if b and not in_band(r["年龄段"], _age(b, AS_OF))}
    if t.col("职业"):
        out["职业 the age rules out (退休 under 50, 学生 over 30)"] = {
            i for i, (r, b) in enumerate(zip(t.rows, born))
            if b and ((r["职业"] == "退休" and _age(b, AS_OF) < 50) or (r["职业"] == "学生" and _age(b, AS_OF) > 30))}
    NM, EM = t.col("姓名"), t.col("邮箱")
    if NM and EM:
        def spelt(name: str) -> str | None:
            got = [PINYIN.get(ch) for ch in name]
            return None if None in got else "".join(got)
        out["email letters not the whole name in pinyin"] = {
            i for i, r in enumerate(t.rows)
            if spelt(r[NM]) and re.match(r"[a-z]*", r[EM]).group(0) != spelt(r[NM])}
    if CUST and OPENED:
        order = sorted((int(r[CUST]), i) for i, r in enumerate(t.rows) if r[CUST].isdigit() and _date(r[OPENED]))
        days = [_date(t.rows[i][OPENED]).toordinal() for _, i in order]
        flagged = set()
        for k, (_, i) in enumerate(order):
            around = days[max(0, k - 5):k] + days[k + 1:k + 6]
            if around and abs(days[k] - sorted(around)[len(around) // 2]) > 60:
                flagged.add(i)
        out["opening date out of step with the customer numbers around (> 60 days)"] = flagged


CHECK_GROUPS = (id_checks, phone_checks, name_checks, code_checks, email_checks, card_checks, amount_checks,
                date_checks, address_checks, twin_checks, contract_checks, life_checks)


def leaker_checks(header: list[str], rows: list[dict[str, str]]) -> Checks:
    t, out = ExportedList(header, rows), {}
    for group in CHECK_GROUPS:
        group(t, out)
    return out


# -- scoring ----------------------------------------------------------------------

@dataclass
class Score:
    check: str
    canaries_flagged: int
    canaries: int
    real_flagged: int
    real: int
    pooled_flagged: int  # pooled canaries survive a merge of colluders' copies: their tells matter most

    @property
    def canary_rate(self) -> float:
        return self.canaries_flagged / self.canaries if self.canaries else 0.0

    @property
    def real_rate(self) -> float:
        return self.real_flagged / self.real if self.real else 0.0

    def marker(self, ratio: float = TELL_RATIO) -> str:
        if self.canary_rate >= TELL_SHARE and self.canary_rate >= ratio * self.real_rate:
            return "TELL"
        if self.canaries_flagged and self.canary_rate > WEAK_RATIO * self.real_rate:
            return "weak"
        return ""


def score(ex: Exported) -> list[Score]:
    canaries = sum(ex.is_canary)
    out = []
    for check, flagged in leaker_checks(ex.header, ex.cells).items():
        fc = sum(ex.is_canary[i] for i in flagged)
        out.append(Score(check, fc, canaries, len(flagged) - fc, len(ex.cells) - canaries,
                         sum(ex.is_pooled[i] for i in flagged)))
    return out


# -- report -----------------------------------------------------------------------

def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _ljust(s: str, width: int) -> str:
    return s + " " * max(0, width - _width(s))


def print_table(result: dict) -> None:
    print(f"\n== shape {result['shape']}, {result['rows']:,} rows: {result['canaries']} canaries "
          f"({result['pooled']} pooled), exported in {result['export_seconds']:.1f} s")
    w = max(_width(c["check"]) for c in result["checks"])
    print(f"  {_ljust('check', w)}  {'canaries flagged':>20}  {'real rows flagged':>23}  {'pooled':>6}")
    for c in result["checks"]:
        s = Score(**{k: c[k] for k in Score.__dataclass_fields__})
        print(f"  {_ljust(c['check'], w)}  {s.canaries_flagged:5d}/{s.canaries:<5d} ({s.canary_rate:6.1%})  "
              f"{s.real_flagged:6d}/{s.real:<6d} ({s.real_rate:7.2%})  {s.pooled_flagged:6d}  {c['marker']}".rstrip())


def run(args: argparse.Namespace, work: Path) -> dict:
    results = []
    for shape in args.shapes:
        for rows in args.rows:
            ex = export_list(shape, rows, args.seed, work)
            scores = score(ex)
            result = {"shape": shape, "rows": rows, "canaries": sum(ex.is_canary), "pooled": sum(ex.is_pooled),
                      "export_seconds": round(ex.export_seconds, 2),
                      "checks": [dict(asdict(s), marker=s.marker(args.tell_ratio)) for s in scores]}
            print_table(result)
            results.append(result)
    return {"seed": args.seed, "as_of": AS_OF.isoformat(),
            "tell_rule": {"min_canary_share": TELL_SHARE, "min_ratio_to_real": args.tell_ratio,
                          "weak_ratio": WEAK_RATIO},
            "results": results, "code": code_version(), "machine": machine()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[5000, 50000],
                   help="real rows of each list (default 5000 50000)")
    p.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=sorted(SHAPES),
                   help="list shapes (default all: A B C D E L)")
    p.add_argument("--seed", type=int, default=1, help="seed of the lists, the key and the export ids")
    p.add_argument("--tell-ratio", type=float, default=TELL_RATIO,
                   help=f"canary rate / real rate from which a check is a TELL (default {TELL_RATIO:g})")
    p.add_argument("--workdir", type=Path, help="work directory (kept); default a temp dir under bench/out/")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE")
    args = p.parse_args(argv)
    if min(args.rows) < 1:
        p.error("--rows must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Keys belong in the benchmark's own homes, not in a folder the environment points at.
    os.environ.pop("TRACER_KEY_DIR", None)
    with work_dir(args.workdir, "canary_tells-", keep=args.keep) as work:
        t0 = time.perf_counter()
        result = run(args, work)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        tells = sum(c["marker"] == "TELL" for r in result["results"] for c in r["checks"])
        print(f"\n{tells} TELL(s) over {len(result['results'])} exports in {result['seconds']:.0f} s; TELL: "
              f">= {TELL_SHARE:.0%} of canaries flagged at >= {args.tell_ratio:g}x the real rows' rate; "
              f"code {result['code']['commit']}{' + uncommitted changes' if result['code']['dirty'] else ''}")
        if args.json:
            write_json(args.json, result)
        return 0


if __name__ == "__main__":
    sys.exit(main())
