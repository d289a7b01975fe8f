"""Resident ID numbers: check character, validity, parsing, building."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.idcard import IdInfo, build_id, check_char, id_info, id_problem, is_valid_id, parse_id
from canary.regions import REGIONS

VECTORS = json.loads((Path(__file__).parent / "vectors" / "idcard.json").read_text(encoding="utf-8"))
TODAY = date.fromisoformat(VECTORS["today"])


def independent_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 from its definition, not from the module's tables.

    Weight of position i (0-based from the left) is 2**(17-i) mod 11; the check
    value c makes the weighted sum, with c at weight 1, congruent to 1 mod 11;
    c = 10 is written 'X'.
    """
    total = sum(int(ch) * pow(2, 17 - i, 11) for i, ch in enumerate(first17))
    c = (12 - total % 11) % 11
    return "X" if c == 10 else str(c)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["id"])
def test_known_answer_vectors(case):
    assert independent_check(case["id"][:17]) == case["check"]
    assert check_char(case["id"][:17]) == case["check"]
    assert id_problem(case["id"], today=TODAY) == case["problem"]
    assert is_valid_id(case["id"], today=TODAY) == (case["problem"] is None)
    if case["problem"] is None:
        info = parse_id(case["id"], today=TODAY)
        assert info == IdInfo(case["region"], date.fromisoformat(case["birthdate"]), case["male"])
    else:
        with pytest.raises(ValueError, match=case["problem"]):
            parse_id(case["id"], today=TODAY)


@pytest.mark.parametrize("bad", ["", "1101051949123100", "1101051949123100234", "11010519491231002Y",
                                 "1101051949123100２X", " 11010519491231002X", "X1010519491231002X"])
def test_malformed_numbers_are_format_problems(bad):
    assert id_problem(bad, today=TODAY) == "idno-format"
    assert not is_valid_id(bad, today=TODAY)


@pytest.mark.parametrize("bad", ["", "1234", "1101051949123100X", "１１０１０５１９４９１２３１００２"])
def test_check_char_rejects_anything_but_17_ascii_digits(bad):
    with pytest.raises(ValueError):
        check_char(bad)


def test_birthdate_bounds_follow_today():
    born_today = build_id("110105", TODAY, 1)
    assert is_valid_id(born_today, today=TODAY)
    assert id_problem(born_today, today=date(2025, 5, 31)) == "idno-birthdate"
    assert is_valid_id(build_id("110105", date(1900, 1, 1), 1), today=TODAY)
    before_1900 = "11010518991231001"
    assert id_problem(before_1900 + check_char(before_1900), today=TODAY) == "idno-birthdate"


def test_parse_error_does_not_echo_the_number():
    with pytest.raises(ValueError) as err:
        parse_id("110105194912310021", today=TODAY)
    assert "110105" not in str(err.value)


def test_build_id_sex_follows_sequence_parity():
    assert parse_id(build_id("440106", date(1980, 5, 17), 7), today=TODAY).male
    assert not parse_id(build_id("440106", date(1980, 5, 17), 8), today=TODAY).male
    assert build_id("110105", date(1949, 12, 31), 2) == "11010519491231002X"


@pytest.mark.parametrize("region, born, seq", [
    ("990101", date(1980, 1, 1), 1),   # no such province
    ("11010", date(1980, 1, 1), 1),    # not 6 digits
    ("11010a", date(1980, 1, 1), 1),
    ("110105", date(1899, 12, 31), 1),
    ("110105", date(1980, 1, 1), 1000),
    ("110105", date(1980, 1, 1), -1),
])
def test_build_id_rejects_impossible_inputs(region, born, seq):
    with pytest.raises(ValueError):
        build_id(region, born, seq)


def test_age_on_counts_completed_years():
    info = IdInfo("110105", date(2000, 2, 29), True)
    assert info.age_on(date(2016, 2, 28)) == 15
    assert info.age_on(date(2016, 2, 29)) == 16
    assert info.age_on(date(2017, 3, 1)) == 17


@given(region=st.sampled_from(sorted(REGIONS)),
       born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
       seq=st.integers(0, 999))
def test_build_then_parse_round_trips(region, born, seq):
    idno = build_id(region, born, seq)
    assert is_valid_id(idno, today=TODAY)
    assert independent_check(idno[:17]) == idno[17]
    assert parse_id(idno, today=TODAY) == IdInfo(region, born, seq % 2 == 1)


@given(region=st.sampled_from(sorted(REGIONS)),
       born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
       seq=st.integers(0, 999), position=st.integers(0, 16), delta=st.integers(1, 9))
def test_any_single_digit_change_breaks_the_checksum(region, born, seq, position, delta):
    idno = build_id(region, born, seq)
    digit = str((int(idno[position]) + delta) % 10)
    changed = idno[:position] + digit + idno[position + 1:]
    assert check_char(changed[:17]) != changed[17]
    assert not is_valid_id(changed, today=TODAY)


@given(body=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_is_the_definition_for_any_body(body):
    assert check_char(body) == independent_check(body)


@given(s=st.one_of(st.from_regex(r"\d{17}[\dXx]", fullmatch=True),  # \d: Unicode digits too
                   st.builds(build_id, st.sampled_from(sorted(REGIONS)),
                             st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 1, 1)), st.integers(0, 999)),
                   st.text(max_size=20)))
def test_id_info_is_parse_id_for_valid_numbers_and_none_otherwise(s):
    info, problem = id_info(s, today=TODAY), id_problem(s, today=TODAY)
    assert (info is None) == (problem is not None)
    if info is not None:
        assert info == parse_id(s, today=TODAY)
