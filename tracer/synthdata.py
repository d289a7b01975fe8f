"""Synthetic bank customer lists: realistic, valid, fast and reproducible.

Why: tracer is developed and tested without real customer data, yet every
stage (column typing, linkage, canary synthesis, the leaker simulation) must
see data that looks like a Chinese bank's export: valid ID numbers whose
region, birthdate and sex agree with the address and gender columns, issued
phone prefixes, a realistic balance distribution. Scale tests need a million
rows in seconds, so every column is built with NumPy and Arrow compute;
Python loops run only over the small lookup tables.

Two banks' lists must never share a customer (a file from "another bank" is
the null case attribution must survive), so each bank owns disjoint number
ranges: its own customer-number lead digit, its own ID sequence numbers and
its own subset of phone numbers, on top of its own random streams.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from canary.idcard import CHECK_MAP, WEIGHTS
from canary.names import GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, SURNAMES
from canary.phones import ISSUED_PREFIXES
from canary.regions import REGIONS

#: Column headers, in output order.
COLUMNS: tuple[str, ...] = (
    "客户号", "姓名", "性别", "身份证号", "手机号", "地址", "开户网点", "客户等级", "月日均存款", "开户日期",
)
#: Banks with disjoint customers; the position is the bank's number-range slot.
BANKS: tuple[str, ...] = ("north", "south", "east", "west", "central", "harbor", "river", "mountain")
_CUSTNO_LEAD = "68573924"  # slot -> first digit of the bank's customer numbers
_SLOTS = len(BANKS)

TIERS: tuple[str, ...] = ("普通", "金卡", "白金", "钻石")
#: Assessed assets (yuan) at which a customer reaches each tier above 普通.
TIER_FLOORS: tuple[float, ...] = (50_000.0, 500_000.0, 2_000_000.0)
#: Log-normal balance: median about 19,500, 30% at or above 50,000.
BALANCE_MU, BALANCE_SIGMA = 9.876, 1.8
BALANCE_RANGE = (100.0, 5_000_000.0)

_BIRTH_FIRST, _BIRTH_LAST = np.datetime64("1950-01-01"), np.datetime64("2004-12-31")
_OPEN_FIRST, _OPEN_LAST = np.datetime64("2000-01-01"), np.datetime64("2025-12-31")

_STREETS = tuple(
    "人民 解放 中山 建设 和平 胜利 新华 文化 长江 黄河 光明 幸福 友谊 迎宾 青年 工农 健康 "
    "学府 科技 创业 金融 滨河 湖滨 花园 公园 体育 团结 民主 光华 振兴 东风 红旗 朝晖 "
    "建国 复兴 南京 北京 上海 天山 昆仑 泰山 黄山 富强 长安 兴华 丽水 春晖".split()
)
_DIRECTIONS = ("", "", "", "东", "西", "南", "北", "中")


def _bank_slot(bank: str) -> int:
    try:
        return BANKS.index(bank)
    except ValueError:
        raise ValueError(f"unknown bank {bank!r}; choose one of {', '.join(BANKS)}") from None


def _streams(seed: int, slot: int, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    # One independent stream per aspect, so changing how one column is drawn
    # leaves the others unchanged for the same seed.
    tag = int.from_bytes(hashlib.blake2b(b"tracer/synthdata", digest_size=4).digest(), "big")
    root = np.random.SeedSequence([seed, slot, tag])
    return {name: np.random.default_rng(ss) for name, ss in zip(names, root.spawn(len(names)))}


def _unique(rng: np.random.Generator, draw: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    """n distinct int64 keys from ``draw(k)``, in random order."""
    keys = np.empty(0, np.int64)
    want = n + n // 20 + 64  # a 5% margin covers the collision rate of every key space here
    while True:
        keys = np.sort(np.concatenate([keys, draw(want)]))  # sort + diff: faster than np.unique
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        if len(keys) >= n:
            # Sorted order would bias which keys are dropped; pick at random.
            return keys[rng.permutation(len(keys))[:n]]
        want = n - len(keys) + n // 20 + 64


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(len(values), width) matrix of decimal digits, zero-padded."""
    out = np.empty((len(values), width), np.uint8)
    rest = values.astype(np.int64)
    for j in range(width - 1, -1, -1):
        rest, out[:, j] = np.divmod(rest, 10)
    return out


def _fixed(chars: np.ndarray) -> pa.Array:
    """Arrow strings from an (n, width) matrix of ASCII codes, without copies per row."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _birth_days() -> tuple[np.ndarray, np.ndarray]:
    """Per day of the birth range: its YYYYMMDD and its sixteenth birthday."""
    days = np.arange(_BIRTH_FIRST, _BIRTH_LAST + 1)
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months).astype(np.int64) + 1
    # 16 is a multiple of 4 and 2000 is a leap year, so a 29 February birthday
    # has a 29 February sixteenth birthday within the range used here.
    sixteenth = ((year + 16 - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
                 ).astype("datetime64[D]") + (day - 1)
    return year * 10000 + month * 100 + day, sixteenth


def _id_numbers(rng: np.random.Generator, n: int, slot: int) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """ID numbers plus, per row, region index, birth-day index and sex."""
    # Digits and weighted checksum parts come from small per-value tables
    # (regions, days, sequence numbers), so rows are assembled by indexing.
    region_digits = _digits(np.array([int(code) for code in REGIONS]), 6)
    day_digits = _digits(_birth_days()[0], 8)
    seq_digits = _digits(np.arange(1000), 3)
    weights = np.array(WEIGHTS, np.int64)
    n_days = len(day_digits)
    # The bank owns 12 of the 100 leading pairs of the 3-digit sequence
    # number, scrambled by a bijection on 0..99 so the pattern is not visible.
    owned = (37 * (np.arange(12) * _SLOTS + slot) + 11) % 100

    def draw(k: int) -> np.ndarray:
        seq = owned[rng.integers(0, 12, k)] * 10 + rng.integers(0, 10, k)
        return (rng.integers(0, len(region_digits), k) * n_days + rng.integers(0, n_days, k)) * 1000 + seq

    rest, seq = np.divmod(_unique(rng, draw, n), 1000)
    region, day = np.divmod(rest, n_days)
    total = (region_digits @ weights[:6])[region] + (day_digits @ weights[6:14])[day] + (seq_digits @ weights[14:])[seq]
    check = np.frombuffer(CHECK_MAP.encode(), np.uint8)[total % 11]
    chars = np.hstack([region_digits[region], day_digits[day], seq_digits[seq]]) + ord("0")
    return _fixed(np.hstack([chars, check[:, None]])), region, day, seq % 2 == 1


def _phones(rng: np.random.Generator, n: int, slot: int) -> pa.Array:
    prefixes = np.array([int(p) for p in ISSUED_PREFIXES], np.int64)
    # 13x/15x/18x dominate real lists; newer segments are rarer but present.
    weights = np.array([3.0 if p[1] in "358" else 0.3 if p[1] == "4" else 1.0 for p in ISSUED_PREFIXES])
    weights /= weights.sum()
    per_bank = 10**8 // _SLOTS

    def draw(k: int) -> np.ndarray:
        # Subscriber numbers congruent to the slot, through a bijection of 0..10**8-1.
        owned = rng.integers(0, per_bank, k) * _SLOTS + slot
        subscriber = (73_939_133 * owned + 5_810_037) % 10**8
        return prefixes[rng.choice(len(prefixes), k, p=weights)] * 10**8 + subscriber

    return _fixed(_digits(_unique(rng, draw, n), 11) + ord("0"))


def _names(rng: np.random.Generator, male: np.ndarray) -> pa.Array:
    n = len(male)
    rank = np.arange(1, len(SURNAMES) + 1)
    p = rank**-0.7 / (rank**-0.7).sum()
    surname = pa.array(SURNAMES).take(rng.choice(len(SURNAMES), n, p=p))
    given = pa.array(GIVEN_CHARS_MALE + GIVEN_CHARS_FEMALE + ("",))
    n_male, n_female = len(GIVEN_CHARS_MALE), len(GIVEN_CHARS_FEMALE)
    size = np.where(male, n_male, n_female)
    base = np.where(male, 0, n_male)
    first = base + (rng.random(n) * size).astype(np.int64)
    second = base + (rng.random(n) * size).astype(np.int64)
    second[rng.random(n) < 0.25] = len(given) - 1  # a quarter have one-character given names
    return _join(surname, given.take(first), given.take(second))


def _addresses(rng: np.random.Generator, region: np.ndarray) -> pa.Array:
    n = len(region)
    regions = list(REGIONS.values())
    place = pa.array([r.full_name for r in regions]).take(region)
    street = _join(pa.array(_STREETS).take(rng.integers(0, len(_STREETS), n)),
                   pa.array(_DIRECTIONS).take(rng.integers(0, len(_DIRECTIONS), n)), "路")
    number = _text(np.exp(rng.uniform(0, np.log(900), n)).astype(np.int64))
    room = _join(_text(rng.integers(1, 31, n)), "栋",
                 _text(rng.integers(1, 31, n) * 100 + rng.integers(1, 5, n)), "室")
    room = pc.if_else(pa.array(rng.random(n) < 0.6), room, "")
    return _join(place, street, number, "号", room)


def _branches(rng: np.random.Generator, region: np.ndarray) -> pa.Array:
    regions = list(REGIONS.values())
    names = [f"{r.city_short}{r.district_short}支行" for r in regions]
    names += [f"{r.city_short}分行营业部" for r in regions]  # some accounts sit at the city's main office
    return pa.array(names).take(region + len(regions) * (rng.random(len(region)) < 0.15))


def _balances(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
    """Monthly average deposits as 2-decimal text, and tiers correlated with them."""
    low, high = BALANCE_RANGE
    yuan = np.exp(rng.normal(BALANCE_MU, BALANCE_SIGMA, n))
    out = (yuan < low) | (yuan > high)
    while out.any():  # truncate by redrawing: no pile-up at the bounds
        yuan[out] = np.exp(rng.normal(BALANCE_MU, BALANCE_SIGMA, int(out.sum())))
        out = (yuan < low) | (yuan > high)
    cents = np.rint(yuan * 100).astype(np.int64)
    whole, frac = np.divmod(cents, 100)
    text = _join(_text(whole), ".", pa.array([f"{i:02d}" for i in range(100)]).take(frac))
    # Tiers are assessed on total assets over another period: correlated, not equal.
    assessed = yuan * np.exp(rng.normal(0.0, 0.3, n))
    tier = pa.array(TIERS).take(np.searchsorted(np.array(TIER_FLOORS), assessed, side="right"))
    return text, tier


def _opened(rng: np.random.Generator, birth_day: np.ndarray) -> pa.Array:
    """Account opening dates on or after the sixteenth birthday, 2000..2025."""
    first = np.maximum(_birth_days()[1], _OPEN_FIRST)[birth_day]
    span = (_OPEN_LAST - first).astype(np.int64) + 1
    opened = first + (rng.random(len(birth_day)) * span).astype(np.int64)
    return pc.cast(pa.array(opened), pa.string())


def make_customers(n: int, *, seed: int = 0, bank: str = "north") -> pa.Table:
    """A synthetic customer list of ``n`` rows, all columns strings (see COLUMNS).

    Deterministic for the same ``n``, ``seed`` and ``bank``. ID numbers,
    phones and customer numbers are unique within a list (tested to two
    million rows) and disjoint between banks in :data:`BANKS`.

    >>> make_customers(3, seed=1).column_names[:4]
    ['客户号', '姓名', '性别', '身份证号']
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    slot = _bank_slot(bank)
    rng = _streams(seed, slot, ("id", "phone", "custno", "name", "address", "branch", "balance", "opened"))
    idno, region, birth_day, male = _id_numbers(rng["id"], n, slot)
    custno = _digits(_unique(rng["custno"], lambda k: rng["custno"].integers(0, 10**11, k), n), 11) + ord("0")
    custno = np.hstack([np.full((n, 1), ord(_CUSTNO_LEAD[slot]), np.uint8), custno])
    balance, tier = _balances(rng["balance"], n)
    columns = [
        _fixed(custno),
        _names(rng["name"], male),
        pa.array(["女", "男"]).take(male.astype(np.int8)),
        idno,
        _phones(rng["phone"], n, slot),
        _addresses(rng["address"], region),
        _branches(rng["branch"], region),
        tier,
        balance,
        _opened(rng["opened"], birth_day),
    ]
    return pa.table(columns, names=list(COLUMNS))


def _write_utf8(table: pa.Table, out: BinaryIO, delimiter: str) -> None:
    """The table as UTF-8 CSV, CRLF line ends as Excel and csv.writer use."""
    table = pa.table([pc.cast(c, pa.string()) for c in table.columns], names=table.column_names)

    def options(quoting: str) -> pacsv.WriteOptions:
        return pacsv.WriteOptions(delimiter=delimiter, eol="\r\n", quoting_style=quoting, quoting_header=quoting)

    buffer = io.BytesIO()
    try:  # bare values, as bank exports look...
        pacsv.write_csv(table, buffer, options("none"))
    except pa.ArrowInvalid:  # ...unless a value holds a delimiter, quote or newline
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, options("needed"))
    out.write(buffer.getbuffer())


def write_csv(table: pa.Table, path: str | os.PathLike[str], *, encoding: str = "utf-8-sig",
              delimiter: str = ",") -> None:
    """Write ``table`` as CSV text, every value verbatim (leading zeros kept).

    UTF-8 with a BOM by default, as Excel expects for Chinese text; any
    Python codec such as 'gbk' or 'gb18030' works (UnicodeEncodeError if a
    value has no encoding in it). Values are unquoted unless some value holds
    the delimiter, a quote or a newline; then every value is quoted (RFC 4180).
    Nulls become empty fields. The file appears atomically: written beside
    the target, then renamed.
    """
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise ValueError("delimiter must be one character other than a quote or newline")
    codec = codecs.lookup(encoding).name
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if codec in ("utf-8", "utf-8-sig"):
                out.write(codecs.BOM_UTF8 if codec == "utf-8-sig" else b"")
                _write_utf8(table, out, delimiter)
            else:
                text = io.BytesIO()
                _write_utf8(table, text, delimiter)
                out.write(text.getvalue().decode("utf-8").encode(encoding))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
