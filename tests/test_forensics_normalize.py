"""Identifier normalisation: the SQL and Python twins agree, case by case."""

from __future__ import annotations

import duckdb
import pytest

from canary.kinds import Kind
from forensics.normalize import guess_identifier, normalise, sql_normalise

CASES = [
    (Kind.PHONE, "13800138000", "13800138000"),
    (Kind.PHONE, "+86 138 0013 8000", "13800138000"),
    (Kind.PHONE, "86-13800138000", "13800138000"),
    (Kind.PHONE, "0086 13800138000", "13800138000"),
    (Kind.PHONE, "１３８００１３８０００", "13800138000"),
    (Kind.PHONE, "12345", None),
    (Kind.IDNO, "11010519491231002x", "11010519491231002X"),
    (Kind.IDNO, " 110105194912310021 ", "110105194912310021"),
    (Kind.IDNO, "1.10105E+17", None),
    (Kind.EMAIL, " Li.Wei@Example.COM ", "li.wei@example.com"),
    (Kind.EMAIL, "not-an-email", None),
    (Kind.CUSTNO, " 6001-2345 ", "60012345"),
    (Kind.CUSTNO, "   ", None),
]


@pytest.mark.parametrize("kind,value,want", CASES)
def test_python_and_sql_normalise_alike(kind, value, want):
    assert normalise(kind, value) == want
    got = duckdb.connect().execute(f"SELECT {sql_normalise(kind, 'v')} FROM (SELECT ? AS v)", [value]).fetchone()[0]
    assert got == want


def test_guess_identifier():
    assert guess_identifier("11010519491231002X") == (Kind.IDNO, "11010519491231002X")
    assert guess_identifier("+86 138 0013 8000") == (Kind.PHONE, "13800138000")
    assert guess_identifier("a@b.cn")[0] is Kind.EMAIL


def test_spreadsheet_damaged_ids_keep_what_survives():
    from canary.idcard import build_id
    from datetime import date

    from forensics.normalize import sql_idno15, sql_idno_recovered

    full = build_id("110105", date(1990, 3, 7), 123)
    con = duckdb.connect()
    rows = [(full[:17], full), (full, full), (full.lower(), full), ("1.10105E+17", None)]
    for value, want in rows:
        got = con.execute(f"SELECT {sql_idno_recovered('v')} FROM (SELECT ? AS v)", [value]).fetchone()[0]
        assert got == want, value
    for value, want in [(full[:15] + "000", full[:15]), (full, full[:15]),
                        (f"{full[0]}.{full[1:16]}E+17", full[:15]), ("1.10105E+17", None), ("12345", None)]:
        got = con.execute(f"SELECT {sql_idno15('v')} FROM (SELECT ? AS v)", [value]).fetchone()[0]
        assert got == want, value
