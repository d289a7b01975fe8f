"""Mainland China mobile numbers: issued prefixes and normalisation.

Why: a phone with a never-issued prefix is the quickest tell of a fake row,
so canaries must use issued prefixes; and leaked lists write the same number
as '+86 138 0013 8000', '138-0013-8000' or in full-width digits, so linkage
needs one canonical form (the bare 11 digits).

Prefixes are the 3-digit segments the MIIT has issued for voice/SMS service
to the public, including virtual-operator (162/165/167/170/171) and 5G-era
(19x) segments. Data-only and IoT segments (140/141/144/146/148) and
satellite (174) are left out: a customer list should not contain them.
"""

from __future__ import annotations

import re
import unicodedata

ISSUED_PREFIXES: tuple[str, ...] = (
    # China Mobile / Unicom / Telecom, 2G-3G era
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    # data-card segments that are also issued to people
    "145", "147", "149",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    # virtual operators and 4G segments
    "162", "165", "166", "167",
    "170", "171", "172", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    # 5G era; 192 is China Broadnet
    "190", "191", "192", "193", "195", "196", "197", "198", "199",
)
_PREFIX_SET = frozenset(ISSUED_PREFIXES)

_ELEVEN = re.compile(r"[0-9]{11}")
_MOBILE_SHAPE = re.compile(r"1[0-9]{10}")  # every mainland mobile starts with 1
# Separators people and spreadsheets put inside a number (after NFKC, which
# turns full-width digits, '＋' and '－' into ASCII).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015./()]+")
_COUNTRY = re.compile(r"^(?:\+86|0086|86)(?=1[0-9]{10}$)")


def is_valid_mobile(s: str) -> bool:
    """True if ``s`` is exactly 11 ASCII digits with an issued prefix."""
    return bool(_ELEVEN.fullmatch(s)) and s[:3] in _PREFIX_SET


def _strip(s: str) -> str | None:
    """The 11-digit candidate inside a formatted number, or None."""
    t = unicodedata.normalize("NFKC", s).strip()
    t = re.sub(r"\.0+$", "", t)  # a spreadsheet's float: '13800138000.0'
    t = t.removeprefix("tel:")
    t = _SEPARATORS.sub("", t)
    t = _COUNTRY.sub("", t)
    if len(t) == 12 and t.startswith("01"):  # trunk prefix dialled from a landline
        t = t[1:]
    return t if _MOBILE_SHAPE.fullmatch(t) else None


def normalize_mobile(s: str) -> str | None:
    """The bare 11 digits of a mobile number however written, or None.

    Accepts a +86 / 86 / 0086 country code, a leading trunk '0', spaces,
    dashes, dots, brackets, full-width characters and a spreadsheet's '.0'.
    Returns None for anything else, and for numbers whose prefix was never
    issued (so a non-None result always passes :func:`is_valid_mobile`).
    """
    t = _strip(s)
    return t if t is not None and t[:3] in _PREFIX_SET else None


def mobile_problem(s: str) -> str | None:
    """Why ``s`` is not a usable mobile number, or None if it is.

    ``phone-format`` when no 11-digit number starting with 1 can be read
    from it (a landline such as 010-62345678 is a format problem),
    ``phone-prefix`` when it can but the prefix was never issued.
    """
    t = _strip(s)
    if t is None:
        return "phone-format"
    return None if t[:3] in _PREFIX_SET else "phone-prefix"
