"""Identifier normalisation: the SQL and Python twins agree, case by case."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert guess_identifier("C-0012345") == (Kind.CUSTNO, "C0012345")
    # A name or a word is no customer number: looked up as one it would answer "no export" (a review).
    for typed in ("贺思璇", "Li Wei", "abc", "000", "   "):
        assert guess_identifier(typed) is None


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


# Strings near the fast path's edges: digits, X/x, letters, dots, spaces,
# full-width digits, '@', '-', '+', and ".0" endings.
_EDGE = st.text(alphabet="0123456789Xxab.@- +０１\u3000", max_size=22) | st.sampled_from(
    ["110105194912310021", "11010519491231002X", "13800138000", "a.b@c.com", "a@b.0", "60012345", "060012345",
     "110105194912310021.0", "1380013800０", "李 四", "\u3000王五"])


@settings(max_examples=120, deadline=None)
@given(st.lists(_EDGE, min_size=1, max_size=40))
def test_fast_path_equals_full_clean_up(values):
    """sql_normalise's one-regex fast path gives what the full clean-up gives
    (and what the Python twin gives), for every identifier kind."""
    from forensics.normalize import WS, _sql_normalise_slow, normalise_name, sql_name

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    for kind in (Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.CUSTNO, Kind.ACCOUNT):
        rows = con.execute(f"SELECT v, {sql_normalise(kind, 'v')}, {_sql_normalise_slow(kind, 'v')} FROM t").fetchall()
        for v, fast, slow in rows:
            assert fast == slow == normalise(kind, v), (kind, v)
    for v, fast, slow in con.execute(
            f"SELECT v, {sql_name('v')}, nullif(regexp_replace(v, '[{WS}]', '', 'g'), '') FROM t").fetchall():
        assert fast == slow == normalise_name(v), v


@settings(max_examples=120, deadline=None)
@given(st.lists(_EDGE | st.sampled_from(["11010519491231002", "1.10105194912310E+17", "110105194912310021000"]),
                min_size=1, max_size=40))
def test_damaged_id_fast_paths_equal_the_full_recovery(values):
    """sql_idno_recovered and sql_idno15 skip their recovery for values already
    in normal form: the answer is the one the recovery gives."""
    from forensics.normalize import _sql_idno15_slow, _sql_idno_recovered_slow, sql_idno15, sql_idno_recovered

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    for fast, slow in ((sql_idno_recovered, _sql_idno_recovered_slow), (sql_idno15, _sql_idno15_slow)):
        for v, a, b in con.execute(f"SELECT v, {fast('v')}, {slow('v')} FROM t").fetchall():
            assert a == b, (fast.__name__, v)


_ADDRESS_PARTS = st.lists(st.one_of(
    st.sampled_from(["北京市", "朝阳区", "建国路", "号", "栋", "单元", "室", "Flat", "Main St", "Room"]),
    st.integers(0, 999).map(str),
    st.integers(0, 999).map(lambda n: "".join(chr(0xFF10 + int(d)) for d in str(n))),  # full-width digits
    st.sampled_from(["Ａ", "ｂ", "Ｃ座", "，", ",", "。", ".", "-", "－", "#", "(", "（", "）", " ", "\u3000", "\t", "·"])),
    max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(address=_ADDRESS_PARTS)
def test_sql_address_key_equals_normalize_address(address):
    """Pool addresses are matched against a source's addresses in SQL: both
    sides must reduce a writing alike (full-width forms, spacing, punctuation)."""
    from canary.contacts import normalize_address
    from forensics.normalize import sql_address_key

    got = duckdb.execute(f"SELECT {sql_address_key('x')} FROM (SELECT ? AS x)", [address]).fetchone()[0]
    assert got == normalize_address(address)
