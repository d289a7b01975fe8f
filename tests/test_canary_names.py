"""Names: the surname and given-character lists, and splitting a name."""

from __future__ import annotations

import pytest

from canary.names import COMPOUND_SURNAMES, GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, SURNAMES, split_name


def test_lists_are_sized_and_distinct():
    assert 140 <= len(SURNAMES) <= 180 and len(set(SURNAMES)) == len(SURNAMES)
    assert SURNAMES[:3] == ("王", "李", "张")
    assert all(len(s) == 1 for s in SURNAMES)
    assert {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "尉迟", "夏侯"} <= set(COMPOUND_SURNAMES)
    for chars in (GIVEN_CHARS_MALE, GIVEN_CHARS_FEMALE):
        assert 90 <= len(chars) <= 120 and len(set(chars)) == len(chars)
        assert all(len(c) == 1 for c in chars)
    assert not set(GIVEN_CHARS_MALE) & set(GIVEN_CHARS_FEMALE)


def test_no_surname_and_given_character_read_as_a_compound_surname():
    given = set(GIVEN_CHARS_MALE) | set(GIVEN_CHARS_FEMALE)
    assert not {s + g for s in SURNAMES for g in given} & set(COMPOUND_SURNAMES)


@pytest.mark.parametrize("name, parts", [
    ("王伟", ("王", "伟")),
    ("张晓明", ("张", "晓明")),
    ("欧阳娜娜", ("欧阳", "娜娜")),
    ("司马光", ("司马", "光")),
    ("诸葛亮", ("诸葛", "亮")),
    ("欧阳", ("欧", "阳")),          # two characters: single surname + given
    (" 李娜 ", ("李", "娜")),
    ("马", ("马", "")),
])
def test_split_name(name, parts):
    assert split_name(name) == parts


def test_split_name_rejects_empty():
    with pytest.raises(ValueError):
        split_name("  ")


def test_every_name_character_a_canary_takes_has_one_romanisation():
    from canary.names import COMPOUND_PINYIN, PINYIN, surname_spellings

    for ch in SURNAMES + GIVEN_CHARS_MALE + GIVEN_CHARS_FEMALE:
        assert PINYIN[ch].isalpha() and PINYIN[ch].islower() and 1 <= len(PINYIN[ch]) <= 6, ch
    assert set(COMPOUND_PINYIN) == set(COMPOUND_SURNAMES)
    assert surname_spellings("王") == ("wang",) and surname_spellings("欧阳") == ("ouyang",)
    assert "lv" in surname_spellings("吕") and surname_spellings("x") == ()
