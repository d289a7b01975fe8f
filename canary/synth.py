"""Canary synthesis: a synthetic customer made from the export's own rows.

A canary starts as a copy of a real row of the same export (its donor), so
its branch, tier, balance and region follow the export's own distribution and
satisfy the export's own filter; then every identifying value is replaced by
a keyed-random one that is valid and consistent: an ID number with the
donor's region, a plausible birthdate and a correct check character; a phone
with the donor's issued prefix; a name from the export's surnames; the
donor's street with another house number. Nothing identifies the donor.

Pure: the caller supplies donors, the keyed stream, and a predicate telling
which identifiers are already taken (by real customers or other canaries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Mapping, Sequence

from .idcard import build_id, id_info
from .kinds import Kind
from .names import GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, split_name
from .phones import ISSUED_PREFIXES
from .prf import Stream
from .regions import REGIONS

DATE_PATTERNS = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}/\d{2}/\d{2}$"), "%Y/%m/%d"),
    (re.compile(r"^\d{4}\.\d{2}\.\d{2}$"), "%Y.%m.%d"),
    (re.compile(r"^\d{4}年\d{2}月\d{2}日$"), "%Y年%m月%d日"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
)
# Where month and day start in each format: every field has a fixed width, so
# reading them by position gives what strptime would (and rejects what it rejects).
_MONTH_DAY_AT = {"%Y-%m-%d": (5, 8), "%Y/%m/%d": (5, 8), "%Y.%m.%d": (5, 8), "%Y年%m月%d日": (5, 8),
                 "%Y%m%d": (4, 6)}
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"\d+")
_SIXTEEN = timedelta(days=16 * 365 + 4)
_REGION_CODES = tuple(sorted(REGIONS))
Taken = Callable[[Kind, str], bool]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def _date_format(value: str) -> str | None:
    for rx, fmt in DATE_PATTERNS:
        if rx.match(value.strip()):
            return fmt
    return None


def _parse_date(value: str, fmt: str | None = None) -> date | None:
    """The date in ``value`` (of format ``fmt``, found if not given), or None."""
    fmt = fmt or _date_format(value or "")
    if fmt is None:
        return None
    t = value.strip()
    m, d = _MONTH_DAY_AT[fmt]
    try:
        return date(int(t[:4]), int(t[m:m + 2]), int(t[d:d + 2]))
    except ValueError:
        return None


def _replace_digits(value: str, stream: Stream, keep: int) -> str:
    """Replace every digit after the first ``keep`` digits, keeping the format."""
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep else str(stream.below(10)))
        else:
            out.append(ch)
    return "".join(out)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def synthesize(columns: Sequence[Column], donor: Mapping[str, str | None], stream: Stream, *,
               today: date, taken: Taken) -> dict[str, str | None]:
    """One canary row (column name -> text) built from ``donor``."""
    row: dict[str, str | None] = dict(donor)
    by_kind: dict[Kind, list[str]] = {}
    for c in columns:
        by_kind.setdefault(c.kind, []).append(c.name)

    def first(kind: Kind) -> str | None:
        names = by_kind.get(kind)
        return donor.get(names[0]) if names else None

    donor_id = (first(Kind.IDNO) or "").strip().upper()
    donor_info = id_info(donor_id, today=today)
    gender_text = (first(Kind.GENDER) or "").strip()
    if gender_text in ("男", "女", "M", "F", "m", "f"):
        male = gender_text in ("男", "M", "m")
    elif donor_info is not None:
        male = donor_info.male
    else:
        male = stream.below(2) == 1

    # Birthdate: near the donor's, kept within a plausible adult age.
    if donor_info is not None:
        born = donor_info.birthdate + timedelta(days=stream.below(731) - 365)
    else:
        born = date(today.year - 25 - stream.below(40), 1, 1) + timedelta(days=stream.below(365))
    while _age(born, today) < 18:
        born -= timedelta(days=365)
    while _age(born, today) > 90:
        born += timedelta(days=365)

    born_shown = any(by_kind.get(k) for k in (Kind.IDNO, Kind.BIRTHDATE, Kind.AGE))
    region = donor_info.region if donor_info else stream.choice(_REGION_CODES)
    for name in by_kind.get(Kind.IDNO, []):
        for _ in range(50):
            seq = stream.below(500) * 2 + (1 if male else 0)
            candidate = build_id(region, born, seq)
            if not taken(Kind.IDNO, candidate):
                row[name] = candidate
                break
        else:
            raise RuntimeError("could not find a free ID number for a canary")
    for name in by_kind.get(Kind.BIRTHDATE, []):
        fmt = _date_format(donor.get(name) or "") or "%Y-%m-%d"
        row[name] = born.strftime(fmt)
    for name in by_kind.get(Kind.AGE, []):
        row[name] = str(_age(born, today))
    for name in by_kind.get(Kind.GENDER, []):
        g = (donor.get(name) or "").strip()
        row[name] = g if g else ("男" if male else "女")
    for name in by_kind.get(Kind.PHONE, []):
        row[name] = _phone(donor.get(name), stream, taken)
    for name in by_kind.get(Kind.NAME, []):
        row[name] = _name(donor.get(name), male, stream)
    for name in by_kind.get(Kind.ADDRESS, []):
        v = donor.get(name)
        row[name] = _new_house_number(v, stream) if v else v
    for kind in (Kind.CUSTNO, Kind.ACCOUNT):
        for name in by_kind.get(kind, []):
            row[name] = _new_number(donor.get(name), kind, stream, taken)
    for name in by_kind.get(Kind.EMAIL, []):
        row[name] = _email(donor.get(name), stream, taken)
    for name in by_kind.get(Kind.AMOUNT, []):
        v = donor.get(name)
        # New cents (or last digit): never a real customer's exact balance.
        if v and "." in v:
            head, _, tail = v.rpartition(".")
            row[name] = head + "." + "".join(str(stream.below(10)) if ch.isdigit() else ch for ch in tail)
    for name in by_kind.get(Kind.DATE, []):
        v = donor.get(name)
        fmt = _date_format(v) if v else None
        d = _parse_date(v, fmt) if fmt else None
        if d is not None:
            shifted = d + timedelta(days=stream.below(61) - 30)
            if born_shown:
                # No younger at the event than the donor was (up to 16): the canary is
                # born up to a year later, and no account is opened by a toddler.
                donor_gap = d - donor_info.birthdate if donor_info is not None else _SIXTEEN
                need = max(timedelta(0), min(donor_gap, _SIXTEEN))
                if shifted - born < need:
                    shifted = born + need + timedelta(days=stream.below(61))
                if shifted > today:  # the donor's own date, if it is old enough for the canary
                    shifted = d if d - born >= need else today
            if shifted <= today:
                row[name] = shifted.strftime(fmt)
    return row


def _phone(value: str | None, stream: Stream, taken: Taken) -> str | None:
    if not value:
        return value
    digits = _DIGIT.findall(value)
    if len(digits) < 11:
        return value
    lead = len(digits) - 11  # e.g. a +86 country code before the number
    prefix = "".join(digits[lead:lead + 3])
    if prefix not in ISSUED_PREFIXES:
        prefix = stream.choice(ISSUED_PREFIXES)
    for _ in range(50):
        new = list(digits[:lead]) + list(prefix) + [str(stream.below(10)) for _ in range(8)]
        it = iter(new)
        candidate = "".join(next(it) if ch.isdigit() else ch for ch in value)
        if not taken(Kind.PHONE, "".join(new[lead:])):
            return candidate
    raise RuntimeError("could not find a free phone number for a canary")


def _name(value: str | None, male: bool, stream: Stream) -> str | None:
    if not value or not value.strip():
        return value
    surname, given = split_name(value.strip())
    chars = GIVEN_CHARS_MALE if male else GIVEN_CHARS_FEMALE
    length = max(1, min(2, len(given) if given else 2))
    return surname + "".join(stream.choice(chars) for _ in range(length))


def _new_house_number(value: str, stream: Stream) -> str:
    """The donor's street with other numbers: a real place, nobody's address.
    Each number stays within the donor's (a 12-storey block gets no 99th-floor
    flat): a room number (3+ digits before 室) is a floor no higher than the
    donor's and a door number no higher than the donor's or 4; any other
    number is drawn from 1 to the donor's own (at least 1 to 9)."""
    def repl(m: re.Match) -> str:
        digits = m.group(0)
        if len(digits) >= 3 and value[m.end():m.end() + 1] == "室":
            floor, door = int(digits[:-2]), int(digits[-2:])
            return f"{1 + stream.below(max(floor, 1))}{1 + stream.below(max(door, 4)):02d}"
        return str(1 + stream.below(max(int(digits), 9)))
    return _NUMBER.sub(repl, value)


def _new_number(value: str | None, kind: Kind, stream: Stream, taken: Taken) -> str | None:
    if not value:
        return value
    ndigits = len(_DIGIT.findall(value))
    keep = max(1, min(ndigits - 4, ndigits // 3))
    # A card number whose check digit is right keeps one (a leaker runs Luhn).
    card = kind is Kind.ACCOUNT and ndigits >= 12 and luhn_ok("".join(_DIGIT.findall(value)))
    for _ in range(50):
        candidate = _replace_digits(value, stream, keep)
        if card:
            candidate = _with_check_digit(candidate)
        if candidate != value and not taken(kind, candidate):
            return candidate
    raise RuntimeError("could not find a free number for a canary")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check that card numbers carry in their last digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _with_check_digit(value: str) -> str:
    """``value`` with its last digit replaced so that its digits pass Luhn."""
    digits = _DIGIT.findall(value)
    body = "".join(digits[:-1])
    check = next(c for c in "0123456789" if luhn_ok(body + c))
    last = max(i for i, ch in enumerate(value) if ch.isdigit())
    return value[:last] + check + value[last + 1:]


def _email(value: str | None, stream: Stream, taken: Taken) -> str | None:
    if not value or "@" not in value:
        return value
    domain = value.rsplit("@", 1)[1]
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(50):
        local = "".join(stream.choice(letters) for _ in range(3 + stream.below(5))) + stream.digits(stream.below(4))
        candidate = f"{local}@{domain}"
        if not taken(Kind.EMAIL, candidate.lower()):
            return candidate
    raise RuntimeError("could not find a free email for a canary")
