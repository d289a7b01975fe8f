"""Column typing: headers (Chinese, English, pinyin) and content, with validators."""

from __future__ import annotations

import pytest

from canary.kinds import Kind
from forensics.coltypes import header_kind, type_column
from tracer.synthdata import make_customers


@pytest.mark.parametrize("header,kind", [
    ("身份证号", Kind.IDNO), ("sfzh", Kind.IDNO), ("ID No", Kind.IDNO), ("手机号码", Kind.PHONE),
    ("sjh", Kind.PHONE), ("Mobile", Kind.PHONE), ("姓名", Kind.NAME), ("xm", Kind.NAME),
    ("月日均存款", Kind.AMOUNT), ("账户余额(元)", Kind.AMOUNT), ("开户日期", Kind.DATE), ("出生日期", Kind.BIRTHDATE),
    ("客户号", Kind.CUSTNO), ("开户网点", Kind.BRANCH), ("客户等级", Kind.TIER), ("备注", None),
])
def test_header_hints(header, kind):
    assert header_kind(header) == kind


def test_content_types_columns_without_useful_headers():
    t = make_customers(300, seed=3)
    expect = {"身份证号": Kind.IDNO, "手机号": Kind.PHONE, "姓名": Kind.NAME, "地址": Kind.ADDRESS,
              "月日均存款": Kind.AMOUNT, "开户日期": Kind.DATE, "开户网点": Kind.BRANCH, "性别": Kind.GENDER}
    for col, kind in expect.items():
        values = t.column(col).to_pylist()
        assert type_column("c", values).kind == kind, col
        typed = type_column(col, values)
        assert typed.kind == kind and typed.confidence >= 0.9


def test_invalid_ids_are_not_typed_as_ids_by_content():
    bad = ["110105194912310022", "123456789012345678"] * 20  # wrong check characters
    assert type_column("c", bad).kind is not Kind.IDNO


def test_scores_are_computed_only_when_typing_needs_them(monkeypatch):
    """A clear header with fitting values is typed from one score, not all of
    them; the lazy scores are the reported ones, value for value."""
    from forensics import coltypes

    t = make_customers(300, seed=5)
    values = t.column("手机号").to_pylist()
    seen = []
    real = coltypes._Scores.__getitem__
    monkeypatch.setattr(coltypes._Scores, "__getitem__", lambda self, k: seen.append(k) or real(self, k))
    assert type_column("手机号", values).kind == Kind.PHONE
    assert seen == [Kind.PHONE]
    monkeypatch.undo()
    for col in t.column_names:
        vals = [str(v) for v in t.column(col).to_pylist()]
        lazy = coltypes._Scores(vals)
        assert {k: lazy[k] for k in coltypes._REPORTED} == coltypes.content_scores(vals)


def test_an_age_band_is_not_an_age():
    """年龄段 holds "30-39": typed as an age, a canary wrote its bare age
    there (a review: 100% of canaries against no real row)."""
    assert type_column("年龄段", ["30-39", "40-49", "50-59"] * 5).kind is Kind.OTHER
    assert type_column("age_group", ["30-39", "60+"] * 5).kind is Kind.OTHER
    # a band written by its first age, 30 for 30-39: by the header (it was an age: 20 of 23 canaries wrong)
    assert type_column("年龄段", ["30", "40", "50"] * 5).kind is Kind.OTHER
    assert type_column("age band", ["30", "40", "50"] * 5).kind is Kind.OTHER
    assert type_column("年龄", ["34", "51", "62"] * 5).kind is Kind.AGE
