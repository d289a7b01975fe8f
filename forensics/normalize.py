"""Normalising identifiers before they are digested, in SQL and in Python.

An identity digest links a leaked row to an export only if both sides
normalise the value the same way, so each kind has one SQL expression (for
columns) and one Python function (for single values: canaries, lineage
look-ups); a test checks they agree.
"""

from __future__ import annotations

import re

from canary.kinds import Kind
from canary.phones import normalize_mobile

#: Small integer codes for identity kinds in the lineage store.
KIND_CODES: dict[Kind, int] = {Kind.IDNO: 1, Kind.CUSTNO: 2, Kind.PHONE: 3, Kind.EMAIL: 4, Kind.ACCOUNT: 5}
ROW_KIND_CODE = 9  # fallback: a digest of the whole row when no identifier exists

_FULLWIDTH = "０１２３４５６７８９ＸｘＡ-Ｚ"


def sql_text(col: str) -> str:
    """A column reference as trimmed text with full-width digits folded."""
    return (f"trim(translate(CAST({col} AS VARCHAR), '０１２３４５６７８９Ｘｘ', '0123456789Xx'), "
            f"' \t\r\n\u3000\ufeff')")


def sql_normalise(kind: Kind, col: str) -> str:
    """SQL that yields the normalised identifier, or NULL if it is not one."""
    t = sql_text(col)
    if kind is Kind.IDNO:
        v = f"upper(regexp_replace({t}, '\\s', '', 'g'))"
        return f"CASE WHEN regexp_full_match({v}, '\\d{{17}}[\\dX]') THEN {v} END"
    if kind is Kind.PHONE:
        d = f"regexp_replace({t}, '[^0-9]', '', 'g')"
        v = (f"CASE WHEN length({d}) = 13 AND starts_with({d}, '86') THEN substr({d}, 3) "
             f"WHEN length({d}) = 15 AND starts_with({d}, '0086') THEN substr({d}, 5) ELSE {d} END")
        return f"CASE WHEN regexp_full_match({v}, '1[3-9]\\d{{9}}') THEN {v} END"
    if kind is Kind.EMAIL:
        v = f"lower({t})"
        return f"CASE WHEN regexp_full_match({v}, '[^@\\s]+@[^@\\s]+') THEN {v} END"
    if kind in (Kind.CUSTNO, Kind.ACCOUNT):
        v = f"upper(regexp_replace({t}, '[\\s-]', '', 'g'))"
        return f"nullif({v}, '')"
    raise ValueError(f"{kind.value} is not an identifier kind")


_WS = re.compile(r"\s")


def normalise(kind: Kind, value: str | None) -> str | None:
    """Python twin of :func:`sql_normalise`."""
    if value is None:
        return None
    t = value.translate(str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")).strip(" \t\r\n\u3000\ufeff")
    if kind is Kind.IDNO:
        v = _WS.sub("", t).upper()
        return v if re.fullmatch(r"\d{17}[\dX]", v) else None
    if kind is Kind.PHONE:
        d = re.sub(r"[^0-9]", "", t)
        if len(d) == 13 and d.startswith("86"):
            d = d[2:]
        elif len(d) == 15 and d.startswith("0086"):
            d = d[4:]
        return d if re.fullmatch(r"1[3-9]\d{9}", d) else None
    if kind is Kind.EMAIL:
        v = t.lower()
        return v if re.fullmatch(r"[^@\s]+@[^@\s]+", v) else None
    if kind in (Kind.CUSTNO, Kind.ACCOUNT):
        v = re.sub(r"[\s-]", "", t).upper()
        return v or None
    raise ValueError(f"{kind.value} is not an identifier kind")


def identity_label(kind: Kind) -> str:
    return f"identity/{kind.value}"


def guess_identifier(value: str) -> tuple[Kind, str] | None:
    """What kind of identifier a single value a person typed is (lineage look-ups)."""
    for kind in (Kind.IDNO, Kind.PHONE, Kind.EMAIL):
        n = normalise(kind, value)
        if n is not None and (kind is not Kind.PHONE or normalize_mobile(value) is not None):
            return kind, n
    n = normalise(Kind.CUSTNO, value)
    return (Kind.CUSTNO, n) if n else None
