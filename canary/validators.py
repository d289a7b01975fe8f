"""The checks a careful leaker runs on a row before trusting (or selling) it.

Why: a canary is only useful if nobody can filter it out. These functions
are the leaker's filter, written down: tests assert every canary and every
synthetic customer passes them, and the leaker simulation uses them to drop
rows that look planted. Problems are short codes, never values, so they can
be logged and counted without printing customer data.

Codes: idno-format, idno-checksum, idno-region, idno-birthdate,
phone-format, phone-prefix, address-region-mismatch, gender-format,
gender-mismatch, birthdate-format, birthdate-mismatch, age-format,
age-mismatch, age-implausible.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Callable, Mapping, Sequence

from .idcard import IdInfo, id_info, id_problem
from .kinds import Kind
from .phones import mobile_problem
from .regions import MUNICIPALITIES, region_in_address

#: Ages a bank customer on a marketing list plausibly has.
MIN_AGE, MAX_AGE = 16, 100

_MALE = frozenset({"男", "m", "male", "男性"})
_FEMALE = frozenset({"女", "f", "female", "女性"})
_GENDERS = _MALE | _FEMALE
_DATE_RE = re.compile(r"(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?")


def _parse_date(s: str) -> date | None:
    match = _DATE_RE.fullmatch(s.strip())
    if not match:
        return None
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        return None


def _same_city(address_code: str, id_code: str) -> bool:
    # In a municipality the province is the city, and an ID issued in a
    # former county (e.g. 110228 密云县, now 110118 密云区) is still local.
    if id_code[:2] in MUNICIPALITIES:
        return address_code[:2] == id_code[:2]
    return address_code[:4] == id_code[:4]


def _id_checks(info: IdInfo, row: Mapping[Kind, str], today: date) -> list[str]:
    problems: list[str] = []
    age = info.age_on(today)
    if not MIN_AGE <= age <= MAX_AGE:
        problems.append("age-implausible")

    address = row.get(Kind.ADDRESS, "").strip()
    region = region_in_address(address) if address else None
    if region is not None and not _same_city(region.code, info.region):
        problems.append("address-region-mismatch")

    gender = row.get(Kind.GENDER, "").strip().lower()
    if gender:
        if gender not in _GENDERS:
            problems.append("gender-format")
        elif (gender in _MALE) != info.male:
            problems.append("gender-mismatch")

    birth = row.get(Kind.BIRTHDATE, "").strip()
    if birth:
        born = _parse_date(birth)
        if born is None:
            problems.append("birthdate-format")
        elif born != info.birthdate:
            problems.append("birthdate-mismatch")

    stated_age = row.get(Kind.AGE, "").strip()
    if stated_age:
        if not stated_age.isascii() or not stated_age.isdigit():
            problems.append("age-format")
        elif abs(int(stated_age) - age) > 1:  # a list may be a year old
            problems.append("age-mismatch")
    return problems


def row_problems(row: Mapping[Kind, str], *, today: date | None = None) -> list[str]:
    """Every check ``row`` fails, as problem codes; empty means it passes.

    ``row`` maps column kinds to raw cell text; missing or blank cells are
    not checked. Checks that compare against the ID number (address region,
    gender, birthdate, age) run only when the ID number itself is valid.
    The address check compares at city level (first four code digits; the
    province for municipalities) and only when the address names a known
    region. ``today`` defaults to the current date.
    """
    today = today or date.today()
    problems: list[str] = []

    idno = row.get(Kind.IDNO, "").strip()
    if idno:
        info = id_info(idno, today=today)  # checked and read in one pass
        if info is None:
            problems.append(id_problem(idno, today=today))
        else:
            problems.extend(_id_checks(info, row, today))

    phone = row.get(Kind.PHONE, "").strip()
    if phone:
        problem = mobile_problem(phone)
        if problem is not None:
            problems.append(problem)
    return problems


def duplicate_problems(values: Sequence[str], *, key: Callable[[str], str | None] | None = None) -> set[int]:
    """Indexes of every value that occurs more than once.

    Blank values are never duplicates. ``key`` canonicalises before
    comparing (e.g. :func:`canary.phones.normalize_mobile`, so '+86 138...'
    and '138...' collide); values it maps to None are skipped.
    """
    keys = [key(v) if key else v.strip() for v in values]
    counts = Counter(k for k in keys if k)
    return {i for i, k in enumerate(keys) if k and counts[k] > 1}
