"""The leaker's checks on one row, and duplicate detection."""

from __future__ import annotations

from datetime import date

import pytest

from canary.idcard import build_id, check_char
from canary.kinds import Kind
from canary.phones import normalize_mobile
from canary.validators import duplicate_problems, row_problems

TODAY = date(2025, 6, 1)
MAN = build_id("440106", date(1980, 5, 17), 123)     # 广州天河, male
WOMAN = build_id("110108", date(1992, 2, 29), 456)   # 北京海淀, female
OLD_COUNTY = build_id("110228", date(1960, 3, 1), 11)  # former 密云县: not in our table
NO_PROVINCE = "99" + MAN[2:17] + check_char("99" + MAN[2:17])

GOOD = {
    Kind.IDNO: MAN, Kind.PHONE: "13800138000", Kind.NAME: "陈建国", Kind.GENDER: "男",
    Kind.BIRTHDATE: "1980-05-17", Kind.ADDRESS: "广东省广州市天河区天河路385号", Kind.AGE: "45",
}


def with_(**changes: str) -> dict[Kind, str]:
    row = dict(GOOD)
    row.update({Kind[k.upper()]: v for k, v in changes.items()})
    return row


@pytest.mark.parametrize("row", [
    GOOD,
    {},
    with_(gender="M"), with_(gender="male"), with_(gender=""),
    with_(birthdate="1980/05/17"), with_(birthdate="19800517"), with_(birthdate="1980年5月17日"),
    with_(phone="+86 138-0013-8000"), with_(phone="１９９１２３４５６７８"),
    with_(address="广州市白云区机场路"),          # another district of the same city
    with_(address="天河路385号"),                 # no known region: nothing to compare
    with_(address="广东省东莞市南城区"),          # region not in our table
    with_(age="44"),                              # a list a year old
    {Kind.IDNO: WOMAN, Kind.GENDER: "女", Kind.ADDRESS: "北京市朝阳区建国路88号", Kind.BIRTHDATE: "1992-02-29"},
    {Kind.IDNO: OLD_COUNTY, Kind.ADDRESS: "北京市密云区鼓楼大街"},  # municipality: the province is the city
    {Kind.PHONE: "17012345678"},
])
def test_rows_that_pass(row):
    assert row_problems(row, today=TODAY) == []


@pytest.mark.parametrize("row, problems", [
    (with_(idno=MAN[:17] + ("0" if MAN[17] != "0" else "1")), ["idno-checksum"]),
    (with_(idno=MAN[:16]), ["idno-format"]),
    (with_(idno=MAN + "1"), ["idno-format"]),
    (with_(idno=NO_PROVINCE), ["idno-region"]),
    (with_(idno=build_id("440106", date(2026, 1, 1), 123)), ["idno-birthdate"]),
    (with_(phone="15412345678"), ["phone-prefix"]),
    (with_(phone="010-62345678"), ["phone-format"]),
    (with_(address="北京市海淀区中关村大街1号"), ["address-region-mismatch"]),
    (with_(address="广东省深圳市南山区科技园"), ["address-region-mismatch"]),
    (with_(gender="女"), ["gender-mismatch"]),
    (with_(gender="F"), ["gender-mismatch"]),
    (with_(gender="unknown"), ["gender-format"]),
    (with_(birthdate="1980-05-18"), ["birthdate-mismatch"]),
    (with_(birthdate="May 17"), ["birthdate-format"]),
    (with_(age="30"), ["age-mismatch"]),
    (with_(age="forty"), ["age-format"]),
    (with_(gender="女", phone="14012345678", address="北京市海淀区"),
     ["address-region-mismatch", "gender-mismatch", "phone-prefix"]),
])
def test_rows_that_fail(row, problems):
    assert sorted(row_problems(row, today=TODAY)) == sorted(problems)


def test_a_bad_id_skips_the_checks_that_depend_on_it():
    row = with_(idno=MAN[:17] + ("0" if MAN[17] != "0" else "1"), gender="女", address="北京市海淀区")
    assert row_problems(row, today=TODAY) == ["idno-checksum"]


@pytest.mark.parametrize("born, plausible", [
    (date(2009, 6, 1), True),    # 16 today
    (date(2009, 6, 2), False),   # 15 until tomorrow
    (date(1925, 6, 2), True),    # 99, 100 tomorrow
    (date(1924, 6, 1), False),   # 101
    (date(1925, 6, 1), True),    # exactly 100
])
def test_age_plausibility(born, plausible):
    problems = row_problems({Kind.IDNO: build_id("310104", born, 1)}, today=TODAY)
    assert (problems == []) == plausible
    assert problems in ([], ["age-implausible"])


def test_problems_never_contain_values():
    row = with_(gender="女", birthdate="1980-05-18", address="北京市海淀区")
    for problem in row_problems(row, today=TODAY):
        assert MAN not in problem and "1980" not in problem and "北京" not in problem


def test_duplicate_problems():
    assert duplicate_problems([]) == set()
    assert duplicate_problems(["a", "b", "c"]) == set()
    assert duplicate_problems(["a", "b", "a", "c", "a"]) == {0, 2, 4}
    assert duplicate_problems(["a", " a", "", "", "b"]) == {0, 1}  # blanks are not duplicates
    phones = ["13800138000", "+86 138 0013 8000", "13900139000", "not a phone", "not a phone"]
    assert duplicate_problems(phones, key=normalize_mobile) == {0, 1}
