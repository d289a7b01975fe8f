"""Mainland mobile numbers: issued prefixes, validity, normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.phones import ISSUED_PREFIXES, is_valid_mobile, mobile_problem, normalize_mobile

NEWER_SEGMENTS = ("162", "165", "166", "167", "170", "171", "172", "173", "175", "176", "177", "178",
                  "190", "191", "192", "193", "195", "196", "197", "198", "199")
NEVER_ISSUED = ("100", "110", "120", "140", "141", "143", "144", "146", "148", "154", "160", "161",
                "163", "164", "168", "169", "174", "179", "194")


def test_prefixes_cover_every_public_segment():
    expected = {str(p) for p in range(130, 140)} | {"145", "147", "149"} \
        | {"150", "151", "152", "153", "155", "156", "157", "158", "159"} \
        | {str(p) for p in range(180, 190)} | set(NEWER_SEGMENTS)
    assert set(ISSUED_PREFIXES) == expected
    assert len(ISSUED_PREFIXES) == len(set(ISSUED_PREFIXES))
    assert not set(NEVER_ISSUED) & set(ISSUED_PREFIXES)


@pytest.mark.parametrize("number", ["13800138000", "13012345678", "19912345678", "16212345678",
                                    "17012345678", "14512345678", "18912345678", "19212345678"])
def test_valid_numbers(number):
    assert is_valid_mobile(number)
    assert normalize_mobile(number) == number
    assert mobile_problem(number) is None


@pytest.mark.parametrize("number, problem", [
    ("14012345678", "phone-prefix"),
    ("15412345678", "phone-prefix"),
    ("19412345678", "phone-prefix"),
    ("12345678901", "phone-prefix"),
    ("1380013800", "phone-format"),      # 10 digits
    ("138001380001", "phone-format"),    # 12 digits
    ("1380013800a", "phone-format"),
    ("", "phone-format"),
    ("010-62345678", "phone-format"),     # a landline
])
def test_invalid_numbers(number, problem):
    assert not is_valid_mobile(number)
    assert normalize_mobile(number) is None
    assert mobile_problem(number) == problem


@pytest.mark.parametrize("written", [
    "+86 138 0013 8000", "86-13800138000", "0086 13800138000", "138-0013-8000",
    "１３８００１３８０００", "＋８６ １３８－００１３－８０００", "(+86) 138 0013 8000", "+86-138-0013-8000",
    " 13800138000 ", "138.0013.8000", "13800138000.0", "013800138000", "tel:+8613800138000",
    "138 0013 8000", "138\u30000013\u30008000",
])
def test_normalize_accepts_common_spellings(written):
    assert normalize_mobile(written) == "13800138000"
    assert mobile_problem(written) is None


@pytest.mark.parametrize("written", [
    "13800138000 ext 1", "８６１３８００１３８０００１", "+1 138 0013 8000", "138-0013-80000",
    "1.38001E+10", "+86 154 0013 8000", "٣٨٠٠١٣٨٠٠٠١",  # Arabic-Indic digits are not ours
])
def test_normalize_rejects_non_mobile_text(written):
    assert normalize_mobile(written) is None


def test_is_valid_mobile_requires_bare_ascii_digits():
    assert not is_valid_mobile("+8613800138000")
    assert not is_valid_mobile("１３８００１３８０００")
    assert not is_valid_mobile("138-0013-8000")


_numbers = st.builds(lambda p, rest: p + rest, st.sampled_from(ISSUED_PREFIXES),
                     st.text("0123456789", min_size=8, max_size=8))
_full_width = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@given(number=_numbers, country=st.sampled_from(["", "+86", "86", "0086", "+86 ", "86-", "(+86)"]),
       sep=st.sampled_from(["", " ", "-", ".", "\u3000"]), wide=st.booleans())
def test_formatted_variants_normalize_back(number, country, sep, wide):
    written = country + sep.join([number[:3], number[3:7], number[7:]])
    if wide:
        written = written.translate(_full_width)
    assert normalize_mobile(written) == number
