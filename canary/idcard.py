"""Chinese resident identity numbers (GB 11643-1999).

An 18-character ID number is: 6-digit administrative division code (where the
number was issued), 8-digit birthdate YYYYMMDD, 3-digit sequence number whose
last digit is odd for men and even for women, and an ISO 7064 MOD 11-2 check
character (a digit or 'X').

Why this module exists: the ID number is the first thing a careful leaker (or
a buyer of a leaked list) checks, so canaries must carry numbers that pass
every one of these checks, and forensics must recognise real ones. The checks
are exposed one by one (:func:`id_problem`) so that a validator can say *why*
a number fails without ever echoing the number itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from operator import mul

from .regions import PROVINCE_CODES

#: ISO 7064 MOD 11-2 weights for the first 17 digits (2**(17-i) mod 11).
WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character indexed by (weighted sum mod 11).
CHECK_MAP = "10X98765432"
#: Earliest birthdate accepted as plausible for a living ID holder.
EARLIEST_BIRTHDATE = date(1900, 1, 1)

_DIGITS = frozenset("0123456789")


def _is_digits(s: str) -> bool:
    # str.isdigit() alone accepts full-width and other Unicode digits; we must
    # not. Among ASCII characters only 0-9 are digits.
    return s.isascii() and s.isdigit()


_ZERO_SUM = ord("0") * sum(WEIGHTS)  # what the digits' byte values add on top of the digits


def _check(first17: str) -> str:
    # first17 is known to be 17 ASCII digits: weigh their bytes in one C-level pass.
    return CHECK_MAP[(sum(map(mul, WEIGHTS, first17.encode())) - _ZERO_SUM) % 11]


def check_char(first17: str) -> str:
    """The check character for the first 17 digits of an ID number.

    Raises ValueError unless ``first17`` is exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not _is_digits(first17):
        raise ValueError("an ID number body is exactly 17 ASCII digits")
    return _check(first17)


def _birthdate(s: str) -> date | None:
    try:
        return date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return None


def _examine(s: str, today: date | None) -> tuple[str | None, date | None]:
    """(problem code, None) for an invalid number, (None, birthdate) for a valid one."""
    if len(s) != 18 or not _is_digits(s[:17]) or not (s[17] in _DIGITS or s[17] == "X"):
        return "idno-format", None
    if _check(s[:17]) != s[17]:
        return "idno-checksum", None
    if s[:2] not in PROVINCE_CODES:
        return "idno-region", None
    born = _birthdate(s)
    if born is None or not EARLIEST_BIRTHDATE <= born <= (today or date.today()):
        return "idno-birthdate", None
    return None, born


def id_problem(s: str, *, today: date | None = None) -> str | None:
    """Why ``s`` is not a valid ID number, as a short code, or None if it is.

    Codes, checked in this order: ``idno-format`` (not 17 digits + digit/'X'),
    ``idno-checksum``, ``idno-region`` (first two digits not a province-level
    code), ``idno-birthdate`` (not a real date in 1900-01-01..today).
    Only an uppercase 'X' is accepted: lower case is a formatting variant for
    the normaliser to fix, not a valid number.
    """
    return _examine(s, today)[0]


def is_valid_id(s: str, *, today: date | None = None) -> bool:
    """True if ``s`` is a well-formed ID number a real person could hold today."""
    return id_problem(s, today=today) is None


@dataclass(frozen=True)
class IdInfo:
    """What an ID number says about its holder."""

    region: str  # 6-digit division code where the number was issued
    birthdate: date
    male: bool

    def age_on(self, day: date) -> int:
        """Completed years of age on ``day``."""
        before_birthday = (day.month, day.day) < (self.birthdate.month, self.birthdate.day)
        return day.year - self.birthdate.year - before_birthday


def parse_id(s: str, *, today: date | None = None) -> IdInfo:
    """Region, birthdate and sex of a valid ID number.

    Raises ValueError naming the failed check (never the number) if invalid.
    """
    problem, born = _examine(s, today)
    if problem is not None:
        raise ValueError(f"invalid resident ID number ({problem})")
    return IdInfo(region=s[:6], birthdate=born, male=int(s[16]) % 2 == 1)


def id_info(s: str, *, today: date | None = None) -> IdInfo | None:
    """:func:`parse_id` for a valid number, None for an invalid one (one pass
    over the checks, for callers that would otherwise check, then parse)."""
    problem, born = _examine(s, today)
    if problem is not None:
        return None
    return IdInfo(region=s[:6], birthdate=born, male=int(s[16]) % 2 == 1)


def build_id(region: str, birthdate: date, seq: int) -> str:
    """A valid ID number for a division code, birthdate and sequence 0..999.

    An odd ``seq`` makes a man's number, an even one a woman's. Raises
    ValueError for a region that is not 6 digits of a real province, a
    birthdate before 1900, or a sequence out of range.
    """
    if len(region) != 6 or not _is_digits(region) or region[:2] not in PROVINCE_CODES:
        raise ValueError("region must be a 6-digit division code of a real province")
    if birthdate < EARLIEST_BIRTHDATE:
        raise ValueError("birthdate must be on or after 1900-01-01")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be in 0..999")
    body = f"{region}{birthdate.year:04d}{birthdate.month:02d}{birthdate.day:02d}{seq:03d}"
    return body + _check(body)
