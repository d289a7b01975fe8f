"""Synthetic customer lists: valid, consistent, unique, disjoint, reproducible."""

from __future__ import annotations

import csv
import re
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from canary.idcard import parse_id
from canary.kinds import Kind
from canary.names import GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, SURNAMES, split_name
from canary.phones import ISSUED_PREFIXES
from canary.regions import REGIONS, region_in_address
from canary.validators import duplicate_problems, row_problems
from tracer import synthdata
from tracer.synthdata import BANKS, COLUMNS, TIERS, make_customers, write_csv

N = 20_000
KINDS = {"身份证号": Kind.IDNO, "手机号": Kind.PHONE, "性别": Kind.GENDER, "地址": Kind.ADDRESS, "姓名": Kind.NAME}


@pytest.fixture(scope="module")
def north() -> pa.Table:
    return make_customers(N, seed=7, bank="north")


@pytest.fixture(scope="module")
def rows(north) -> list[dict[str, str]]:
    return north.to_pylist()


def test_columns_are_strings_in_order(north):
    assert north.column_names == list(COLUMNS) == [
        "客户号", "姓名", "性别", "身份证号", "手机号", "地址", "开户网点", "客户等级", "月日均存款", "开户日期"]
    assert north.num_rows == N
    assert all(t == pa.string() for t in north.schema.types)
    assert all(c.null_count == 0 for c in north.columns)


def test_every_row_passes_every_validator(rows):
    failures = [row_problems({kind: r[col] for col, kind in KINDS.items()}) for r in rows]
    assert [f for f in failures if f] == []


def test_identifiers_are_unique(north):
    for column in ("客户号", "身份证号", "手机号"):
        assert duplicate_problems(north[column].to_pylist()) == set()


def test_customer_numbers_carry_the_bank_prefix(north):
    assert pc.all(pc.match_substring_regex(north["客户号"], r"^6\d{11}$")).as_py()
    south = make_customers(100, seed=7, bank="south")
    assert not any(c.startswith("6") for c in south["客户号"].to_pylist())


def test_rows_are_internally_consistent(rows):
    for r in rows:
        info = parse_id(r["身份证号"])
        region = REGIONS[info.region]
        assert r["地址"].startswith(region.full_name) and re.search(r"路\d+号", r["地址"])
        assert region_in_address(r["地址"]) == region
        assert r["开户网点"] in (f"{region.city_short}{region.district_short}支行", f"{region.city_short}分行营业部")
        assert (r["性别"] == "男") == info.male
        assert 1950 <= info.birthdate.year <= 2004
        surname, given = split_name(r["姓名"])
        assert surname in SURNAMES and 1 <= len(given) <= 2
        assert set(given) <= set(GIVEN_CHARS_MALE if info.male else GIVEN_CHARS_FEMALE)
        opened = date.fromisoformat(r["开户日期"])
        sixteenth = info.birthdate.replace(year=info.birthdate.year + 16)
        assert max(date(2000, 1, 1), sixteenth) <= opened <= date(2025, 12, 31)


def test_phones_use_issued_prefixes_including_new_segments(north):
    prefixes = set(pc.utf8_slice_codeunits(north["手机号"], 0, 3).to_pylist())
    assert prefixes <= set(ISSUED_PREFIXES)
    assert {"162", "170", "199", "166", "192"} & prefixes
    assert any(p.startswith("16") for p in prefixes) and any(p.startswith("17") for p in prefixes) \
        and any(p.startswith("19") for p in prefixes)
    assert pc.all(pc.match_substring_regex(north["手机号"], r"^\d{11}$")).as_py()


def test_balances_are_lognormal_text_with_two_decimals(north):
    assert pc.all(pc.match_substring_regex(north["月日均存款"], r"^[1-9]\d*\.\d{2}$")).as_py()
    yuan = np.array(north["月日均存款"].to_pylist(), dtype=float)
    assert yuan.min() >= 100 and yuan.max() <= 5_000_000
    assert 0.27 <= (yuan >= 50_000).mean() <= 0.33
    assert yuan.max() > 1_000_000 and yuan.min() < 500


def test_tiers_follow_balances(north):
    yuan = np.array(north["月日均存款"].to_pylist(), dtype=float)
    tier = np.array(north["客户等级"].to_pylist())
    assert set(tier) <= set(TIERS) and {"普通", "金卡", "白金"} <= set(tier)
    medians = [np.median(yuan[tier == t]) for t in TIERS if (tier == t).any()]
    assert medians == sorted(medians)
    assert (tier == "普通").mean() > 0.5


def test_same_seed_same_list_other_seed_other_list(north):
    assert make_customers(N, seed=7, bank="north").equals(north)
    other = make_customers(N, seed=8, bank="north")
    assert not other.equals(north)
    assert len(set(other["身份证号"].to_pylist()) & set(north["身份证号"].to_pylist())) < N // 100


def test_banks_share_no_customer(north):
    south = make_customers(N, seed=7, bank="south")
    for column in ("客户号", "身份证号", "手机号"):
        assert not set(north[column].to_pylist()) & set(south[column].to_pylist()), column


def test_every_pair_of_banks_is_disjoint_even_with_the_same_seed():
    seen: dict[str, set[str]] = {"身份证号": set(), "手机号": set(), "客户号": set()}
    for bank in BANKS:
        table = make_customers(3_000, seed=0, bank=bank)
        for column, values in seen.items():
            new = set(table[column].to_pylist())
            assert not new & values, (bank, column)
            values |= new


def test_unique_keeps_drawing_until_enough_distinct_keys():
    # A key space barely larger than n forces many collisions and redraws.
    rng = np.random.default_rng(1)
    keys = synthdata._unique(rng, lambda k: rng.integers(0, 1_100, k), 1_000)
    assert len(keys) == 1_000 == len(set(keys.tolist()))
    assert keys.min() >= 0 and keys.max() < 1_100
    assert not np.all(np.diff(keys) > 0), "random order, not sorted"


def _distinct(strings: pa.Array, width: int) -> int:
    fixed = np.sort(np.frombuffer(strings.buffers()[2], dtype=f"S{width}"))
    return int(len(fixed) - (fixed[1:] == fixed[:-1]).sum())


@pytest.mark.slow
def test_ids_and_phones_stay_unique_at_two_million():
    # The column builders alone; the whole table at this size takes longer.
    rng = np.random.default_rng(0)
    assert _distinct(synthdata._id_numbers(rng, 2_000_000, 0)[0], 18) == 2_000_000
    assert _distinct(synthdata._phones(rng, 2_000_000, 0), 11) == 2_000_000


def test_edge_sizes_and_bad_arguments():
    empty = make_customers(0)
    assert empty.num_rows == 0 and empty.column_names == list(COLUMNS)
    assert make_customers(1).num_rows == 1
    with pytest.raises(ValueError, match="unknown bank"):
        make_customers(10, bank="nowhere")
    with pytest.raises(ValueError):
        make_customers(-1)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030"])
def test_write_csv_round_trips_text(tmp_path, north, encoding):
    table = north.slice(0, 500)
    path = tmp_path / "list.csv"
    write_csv(table, path, encoding=encoding)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    with open(path, encoding="utf-8-sig" if encoding.startswith("utf") else encoding, newline="") as f:
        read = list(csv.reader(f))
    assert read[0] == list(COLUMNS)
    assert read[1:] == [list(r.values()) for r in table.to_pylist()]
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_csv_keeps_leading_zeros_and_quotes_when_needed(tmp_path):
    plain = tmp_path / "plain.csv"
    write_csv(pa.table({"编号": ["007", "010"], "金额": ["0.50", "12.00"]}), plain)
    assert plain.read_bytes().decode("utf-8") == "\ufeff编号,金额\r\n007,0.50\r\n010,12.00\r\n"
    # One value needs quoting, so every value is quoted (still RFC 4180).
    tsv = tmp_path / "t.tsv"
    write_csv(pa.table({"编号": ["007"], "备注": ['say "hi"']}), tsv, delimiter="\t", encoding="utf-8")
    assert tsv.read_bytes().decode("utf-8") == '"编号"\t"备注"\r\n"007"\t"say ""hi"""\r\n'
    with pytest.raises(ValueError):
        write_csv(pa.table({"a": ["1"]}), plain, delimiter='"')
