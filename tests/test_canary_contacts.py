"""Live contacts in a column's own shape, and addresses matched however written (canary.contacts)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.contacts import email_like, normalize_address, phone_like, tidy_address
from canary.phones import normalize_mobile


@pytest.mark.parametrize("template, expected", [
    ("+86 138-0013-8000", "+86 139-1234-0001"),
    ("13800138000", "13912340001"),
    ("138 0013 8000", "139 1234 0001"),
    ("0086-138-0013-8000", "0086-139-1234-0001"),
    ("(+86)138.0013.8000", "(+86)139.1234.0001"),
    ("１３８００１３８０００", "１３９１２３４０００１"),  # full-width stays full-width
    ("", "13912340001"),
    (None, "13912340001"),
    ("010-6234567", "13912340001"),  # too few digits to be a mobile layout: the bare number
])
def test_a_pool_phone_takes_the_columns_layout(template, expected):
    assert phone_like(template, "13912340001") == expected
    assert normalize_mobile(expected) == "13912340001"  # and still reads as the same number


@given(st.lists(st.sampled_from([" ", "-", ".", "", ""]), min_size=11, max_size=11), st.booleans())
def test_any_layout_round_trips_to_the_same_number(seps, country):
    template = ("+86 " if country else "") + "".join(d + s for d, s in zip("13800138000", seps)).strip(" -.")
    assert normalize_mobile(phone_like(template, "17712345678")) == "17712345678"


@pytest.mark.parametrize("digits", ["1391234000", "139123400011", "1391234000a", "１３９１２３４０００１"])
def test_phone_like_takes_only_a_bare_mobile(digits):
    with pytest.raises(ValueError):
        phone_like("13800138000", digits)


@pytest.mark.parametrize("template, expected", [
    ("abc12@QQ.COM", "C1@BANK.EXAMPLE"),
    ("ZHANG@163.COM", "C1@BANK.EXAMPLE"),
    ("abc12@qq.com", "c1@bank.example"),
    ("Zhang.Wei@Bank.com", "c1@bank.example"),  # mixed case: the normal form
    ("abc@163", "c1@bank.example"),  # no letters to go by
    (None, "c1@bank.example"),
])
def test_a_pool_mailbox_takes_the_columns_case(template, expected):
    assert email_like(template, "c1@bank.example") == expected


@pytest.mark.parametrize("a, b", [
    ("北京市朝阳区建国路88号3单元502室", "北京市朝阳区 建国路８８号，３单元５０２室"),
    ("北京市朝阳区建国路88号3单元502室", " 北京市朝阳区建国路88号-3单元502室。"),
    ("Room 502, 88 Jianguo Rd", "room 502 88 jianguo rd."),
])
def test_one_address_written_two_ways_matches(a, b):
    assert normalize_address(a) == normalize_address(b) is not None


@pytest.mark.parametrize("a, b", [
    ("北京市朝阳区建国路88号3单元502室", "北京市朝阳区建国路88号3单元503室"),
    ("北京市朝阳区建国路88号", "北京市海淀区建国路88号"),
])
def test_different_addresses_do_not_match(a, b):
    assert normalize_address(a) != normalize_address(b)


@pytest.mark.parametrize("text", [None, "", "  ", "长沙市", "— ，。"])
def test_too_little_to_match_on_is_none(text):
    assert normalize_address(text) is None


def test_an_address_is_written_as_given_with_spaces_tidied():
    assert tidy_address("  湖南省长沙市  岳麓区\t麓山南路1号 ") == "湖南省长沙市 岳麓区 麓山南路1号"
