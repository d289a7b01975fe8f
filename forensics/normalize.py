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
#: The first 15 digits of an ID number with the name: what a spreadsheet leaves
#: of an ID typed as a number (15 significant digits), still nearly unique.
IDNO15_NAME_CODE = 6
IDNO15_NAME_LABEL = "identity/idno15name"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def sql_text(col: str) -> str:
    """A column reference as trimmed text with full-width digits folded."""
    return (f"trim(translate(CAST({col} AS VARCHAR), '０１２３４５６７８９Ｘｘ', '0123456789Xx'), "
            f"' \t\r\n\u3000\ufeff')")


# White space as both twins remove it: RE2's \\s is ASCII-only and Python's
# is all of Unicode, so neither is used; this explicit set is.
WS = " \t\n\r\f\v\u3000\ufeff"

# A value already in normal form passes one cheap regex and is used as is;
# only the rest goes through the full clean-up (translate, trim, replaces),
# which costs about twenty times more per value. Each pattern accepts only
# values the clean-up would leave unchanged, so both ways give the same text.
_ALREADY_NORMAL = {
    Kind.IDNO: "\\d{17}[\\dX]",
    Kind.PHONE: "1[3-9]\\d{9}",
    Kind.EMAIL: "[a-z0-9._%+-]+@[a-z0-9.-]*[a-z]",
    Kind.CUSTNO: "[1-9A-Z][0-9A-Z]*",
    Kind.ACCOUNT: "[1-9A-Z][0-9A-Z]*",
}


def sql_normalise(kind: Kind, col: str) -> str:
    """SQL that yields the normalised identifier, or NULL if it is not one."""
    if kind not in _ALREADY_NORMAL:
        raise ValueError(f"{kind.value} is not an identifier kind")
    text = f"CAST({col} AS VARCHAR)"
    return (f"(CASE WHEN regexp_full_match({text}, '{_ALREADY_NORMAL[kind]}') THEN {text} "
            f"ELSE {_sql_normalise_slow(kind, col)} END)")


def _sql_normalise_slow(kind: Kind, col: str) -> str:
    t = f"regexp_replace({sql_text(col)}, '\\.0+$', '')"  # drop a spreadsheet's trailing .0
    if kind is Kind.IDNO:
        v = f"upper(regexp_replace({t}, '[{WS}]', '', 'g'))"
        return f"CASE WHEN regexp_full_match({v}, '\\d{{17}}[\\dX]') THEN {v} END"
    if kind is Kind.PHONE:
        d = f"regexp_replace({t}, '[^0-9]', '', 'g')"
        v = (f"CASE WHEN length({d}) = 13 AND starts_with({d}, '86') THEN substr({d}, 3) "
             f"WHEN length({d}) = 15 AND starts_with({d}, '0086') THEN substr({d}, 5) ELSE {d} END")
        return f"CASE WHEN regexp_full_match({v}, '1[3-9]\\d{{9}}') THEN {v} END"
    if kind is Kind.EMAIL:
        v = f"lower({t})"
        return f"CASE WHEN regexp_full_match({v}, '[^@{WS}]+@[^@{WS}]+') THEN {v} END"
    if kind in (Kind.CUSTNO, Kind.ACCOUNT):
        # Leading zeros are the first thing a spreadsheet drops.
        v = f"ltrim(upper(regexp_replace({t}, '[{WS}-]', '', 'g')), '0')"
        return f"nullif({v}, '')"
    raise ValueError(f"{kind.value} is not an identifier kind")


_WIDE = "".join(chr(c) for c in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)))
_NARROW = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sql_address_key(col: str) -> str:
    """canary.contacts.normalize_address in SQL for the writings lists use:
    full-width digits and letters folded, lower case, no white space,
    punctuation, symbols or controls (NFKC's rarer foldings, such as circled
    digits, are not made). NULL where fewer than 4 characters are left."""
    folded = f"lower(translate(CAST({col} AS VARCHAR), '{_WIDE}', '{_NARROW}'))"
    kept = f"regexp_replace({folded}, '[\\p{{P}}\\p{{S}}\\p{{Z}}\\p{{C}}\\s]', '', 'g')"
    return f"(CASE WHEN length({kept}) >= 4 THEN {kept} END)"


def sql_name(col: str) -> str:
    """A person's name without any padding (spaces, full-width spaces)."""
    text = f"CAST({col} AS VARCHAR)"
    return (f"(CASE WHEN NOT regexp_matches({text}, '[{WS}]') THEN nullif({text}, '') "
            f"ELSE nullif(regexp_replace({text}, '[{WS}]', '', 'g'), '') END)")


def sql_idno_recovered(col: str) -> str:
    """A leak's ID number: valid as is, or 17 digits whose lost check character
    (a trailing X is what a spreadsheet drops) is recomputed. A value already
    in normal form skips the recovery (DuckDB evaluates CASE branches only
    where they apply, but not the arguments of coalesce)."""
    text = f"CAST({col} AS VARCHAR)"
    return (f"(CASE WHEN regexp_full_match({text}, '{_ALREADY_NORMAL[Kind.IDNO]}') THEN {text} "
            f"ELSE {_sql_idno_recovered_slow(col)} END)")


def _sql_idno_recovered_slow(col: str) -> str:
    full = sql_normalise(Kind.IDNO, col)
    d = f"regexp_replace(regexp_replace({sql_text(col)}, '\\.0+$', ''), '[{WS}]', '', 'g')"
    total = " + ".join(f"CAST(substr({d}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(_ID_WEIGHTS))
    recovered = f"{d} || substr('10X98765432', (({total}) % 11) + 1, 1)"
    return f"coalesce({full}, CASE WHEN regexp_full_match({d}, '\\d{{17}}') THEN {recovered} END)"


def sql_idno15(col: str) -> str:
    """The first 15 digits an ID number keeps through a spreadsheet: from the
    digits themselves, or from scientific notation with 15 significant digits
    (a value already in normal form: its first 15 characters)."""
    text = f"CAST({col} AS VARCHAR)"
    return (f"(CASE WHEN regexp_full_match({text}, '{_ALREADY_NORMAL[Kind.IDNO]}') THEN substr({text}, 1, 15) "
            f"ELSE {_sql_idno15_slow(col)} END)")


def _sql_idno15_slow(col: str) -> str:
    t = f"upper(regexp_replace({sql_text(col)}, '[{WS}]', '', 'g'))"
    digits = f"regexp_extract({t}, '^(\\d{{15}})\\d{{0,3}}X?(\\.0+)?$', 1)"
    mant = f"regexp_extract({t}, '^(\\d)\\.(\\d{{14,}})E\\+?17$', 0)"
    from_sci = (f"CASE WHEN {mant} <> '' THEN substr(regexp_extract({t}, '^(\\d)\\.', 1) || "
                f"regexp_extract({t}, '^\\d\\.(\\d+)E', 1), 1, 15) END")
    return f"coalesce(nullif({digits}, ''), {from_sci})"


def idno15_name_message(idno15_sql: str, name_sql: str) -> str:
    return f"({idno15_sql} || '|' || {name_sql})"


_WS = re.compile(f"[{WS}]")


def normalise(kind: Kind, value: str | None) -> str | None:
    """Python twin of :func:`sql_normalise`."""
    if value is None:
        return None
    t = value.translate(str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")).strip(" \t\r\n\u3000\ufeff")
    t = re.sub(r"\.0+$", "", t)
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
        return v if re.fullmatch(f"[^@{WS}]+@[^@{WS}]+", v) else None
    if kind in (Kind.CUSTNO, Kind.ACCOUNT):
        v = re.sub(f"[{WS}-]", "", t).upper().lstrip("0")
        return v or None
    raise ValueError(f"{kind.value} is not an identifier kind")


def normalise_name(value: str | None) -> str | None:
    if value is None:
        return None
    v = _WS.sub("", value)
    return v or None


def identity_label(kind: Kind) -> str:
    return f"identity/{kind.value}"


def guess_identifier(value: str) -> tuple[Kind, str] | None:
    """What kind of identifier a single value a person typed is (lineage look-ups)."""
    for kind in (Kind.IDNO, Kind.PHONE, Kind.EMAIL):
        n = normalise(kind, value)
        if n is not None and (kind is not Kind.PHONE or normalize_mobile(value) is not None):
            return kind, n
    n = normalise(Kind.CUSTNO, value)
    # A customer number has a digit and only letters and digits: a name or a word typed
    # here would otherwise be looked up as one and answer "no export", a false all-clear.
    return (Kind.CUSTNO, n) if n and re.fullmatch(r"[0-9A-Z]+", n) and re.search(r"\d", n) else None
