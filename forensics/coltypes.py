"""Column typing: what each column of a source or a leak holds.

A recogniser in the manner of presidio: a header hint (Chinese, English,
pinyin abbreviations) gives a weak prior, content patterns with validators
(ID check character, issued phone prefixes, parseable dates) give evidence,
and the reasons are kept so the attribution report can show them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from canary.idcard import is_valid_id
from canary.kinds import Kind
from canary.names import COMPOUND_SURNAMES, SURNAMES
from canary.phones import normalize_mobile

# Header hints. Matching is on a normalised header (lower case, no spaces,
# underscores or brackets); a hint matches if it equals the header or, for
# hints of 2+ CJK characters or 4+ letters, is contained in it.
HEADER_HINTS: dict[Kind, tuple[str, ...]] = {
    Kind.IDNO: ("身份证", "身份证号", "身份证号码", "证件号", "证件号码", "idno", "idcard", "idnumber",
                "id_no", "sfz", "sfzh", "sfzhm", "zjhm", "citizenid", "nationalid", "certno", "shenfenzheng",
                "shenfenzhenghao", "zjh"),
    Kind.PHONE: ("手机", "手机号", "手机号码", "电话", "联系电话", "移动电话", "mobile", "phone",
                 "cellphone", "tel", "sjh", "sjhm", "dh", "lxdh", "telephone", "shouji", "shoujihao", "dianhua"),
    Kind.NAME: ("姓名", "客户姓名", "名字", "户名", "name", "fullname", "customername", "xm", "khxm",
                "xingming"),
    Kind.GENDER: ("性别", "gender", "sex", "xb"),
    Kind.BIRTHDATE: ("出生日期", "生日", "出生", "birthdate", "birthday", "dob", "csrq"),
    Kind.AGE: ("年龄", "age", "nl"),
    Kind.ADDRESS: ("地址", "住址", "家庭住址", "联系地址", "通讯地址", "address", "addr", "dz", "jtzz", "dizhi"),
    Kind.EMAIL: ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail", "yx"),
    Kind.CUSTNO: ("客户号", "客户编号", "客户代码", "客户编码", "客户id", "会员", "custno", "customerid", "customerno",
                  "custid", "memberid", "memberno", "cif", "khh", "khbh", "khid", "hyh"),
    Kind.ACCOUNT: ("账号", "帐号", "卡号", "账户", "银行卡号", "account", "accountno", "cardno", "zh", "kh"),
    Kind.AMOUNT: ("余额", "金额", "存款", "日均", "资产", "额度", "收入", "授信", "balance", "amount",
                  "deposit", "limit", "income", "asset", "assets", "ye", "je", "ckye", "yrj", "rjye"),
    Kind.DATE: ("日期", "时间", "date", "time", "rq", "khrq", "opened", "opendate"),
    Kind.BRANCH: ("网点", "支行", "分行", "机构", "营业部", "开户行", "branch", "wd", "khwd", "jg"),
    Kind.TIER: ("等级", "级别", "客户等级", "星级", "tier", "level", "grade", "segment", "dj", "khdj"),
}

_NORMALISE = re.compile(r"[\s_\-()（）\[\]【】:：/.]+")


@functools.lru_cache(maxsize=4096)
def normalise_header(header: str) -> str:
    # cached: attribution compares every export's headers with the leak's (thousands of calls, few names)
    return _NORMALISE.sub("", (header or "").replace("\ufeff", "")).lower()


def header_kind(header: str) -> Kind | None:
    """The kind a header names, if any: exact hints first, then containment."""
    h = normalise_header(header)
    if not h:
        return None
    for kind, hints in HEADER_HINTS.items():
        if h in hints:
            return kind
    # Birth dates before dates, amounts before dates ("日均" vs "日期").
    order = (Kind.BIRTHDATE, Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.CUSTNO, Kind.AMOUNT, Kind.ACCOUNT,
             Kind.BRANCH, Kind.TIER, Kind.ADDRESS, Kind.NAME, Kind.GENDER, Kind.AGE, Kind.DATE)
    for kind in order:
        for hint in HEADER_HINTS[kind]:
            long_enough = len(hint) >= 4 or (len(hint) >= 2 and not hint.isascii())
            if long_enough and hint in h:
                return kind
    return None


_ID_RE = re.compile(r"^\d{17}[\dXx]$")
_EMAIL_RE = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
_AMOUNT_RE = re.compile(r"^[-+]?[¥￥]?\s?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s?元?$")
_DATE_RE = re.compile(r"^(19|20)\d{2}([-/.])(0?[1-9]|1[0-2])\2(0?[1-9]|[12]\d|3[01])$|"
                      r"^(19|20)\d{2}年(0?[1-9]|1[0-2])月(0?[1-9]|[12]\d|3[01])日$|"
                      r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
_CJK_NAME_RE = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_DIGITS_RE = re.compile(r"^\d{6,24}$")
_ADDRESS_RE = re.compile(r"(省|市|区|县|镇|乡|路|街|道|号|村|巷|弄)")
_BRANCH_RE = re.compile(r"(支行|分行|网点|营业部|分理处)$")
_GENDERS = {"男", "女", "m", "f", "male", "female"}
_SURNAME_SET = set(SURNAMES) | set(COMPOUND_SURNAMES)
# What a spreadsheet leaves of an ID number typed as a number.
_MANGLED_ID_RE = re.compile(r"^(\d{15,18}X?)(\.0+)?$|^\d\.\d+E\+?17$", re.IGNORECASE)
_TIER_WORDS = ("普通", "金卡", "银卡", "白金", "钻石", "贵宾", "vip", "私行", "理财", "黑金", "铂金", "星级", "大众")


def _mangled_id(v: str) -> bool:
    if not _MANGLED_ID_RE.match(v):
        return False
    if "E" in v.upper():
        return True
    from canary.regions import PROVINCE_CODES

    return v[:2] in PROVINCE_CODES and v[6:8] in ("19", "20") and "01" <= v[10:12] <= "12"


def _share(values: Sequence[str], test) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if test(v)) / len(values)


def _tier(vals: list[str]) -> float:
    distinct = set(vals)
    if len(distinct) <= 12 and len(vals) >= 2 * len(distinct):
        return _share(vals, lambda v: any(w in v.lower() for w in _TIER_WORDS))
    return 0.0


_CODE_RE = re.compile(r"^[A-Za-z]{0,4}-?\d{8,24}$")


def _unique_codes(vals: list[str]) -> float:
    """Share of values that are codes (8+ digits, up to four letters before
    them) when nearly all are distinct and of one length: a record's key
    (a customer, member or contract number) whatever the header calls it.
    A stray value of another length does not hide it."""
    lengths = Counter(len(v) for v in vals)
    if lengths.most_common(1)[0][1] >= 0.9 * len(vals) and len(set(vals)) >= 0.9 * len(vals):
        return _share(vals, lambda v: bool(_CODE_RE.match(v)))
    return 0.0


# How each score is computed from the non-empty, stripped values ("numeric"
# and "with_cents" are steps of the amount score, not reported).
_SCORERS = {
    Kind.IDNO: lambda vals, s: _share(vals, lambda v: bool(_ID_RE.match(v)) and is_valid_id(v.upper())),
    Kind.PHONE: lambda vals, s: _share(vals, lambda v: normalize_mobile(v) is not None),
    Kind.EMAIL: lambda vals, s: _share(vals, lambda v: bool(_EMAIL_RE.match(v))),
    Kind.DATE: lambda vals, s: _share(vals, lambda v: bool(_DATE_RE.match(v))),
    Kind.NAME: lambda vals, s: _share(vals, lambda v: bool(_CJK_NAME_RE.match(v))
                                      and (v[0] in _SURNAME_SET or v[:2] in _SURNAME_SET)),
    Kind.GENDER: lambda vals, s: _share(vals, lambda v: v.lower() in _GENDERS),
    Kind.ADDRESS: lambda vals, s: _share(vals, lambda v: len(v) >= 6 and len(_ADDRESS_RE.findall(v)) >= 2),
    Kind.BRANCH: lambda vals, s: _share(vals, lambda v: bool(_BRANCH_RE.search(v))),
    "idno_mangled": lambda vals, s: _share(vals, _mangled_id),
    Kind.TIER: lambda vals, s: _tier(vals),
    "unique_codes": lambda vals, s: _unique_codes(vals),
    "numeric": lambda vals, s: _share(vals, lambda v: bool(_AMOUNT_RE.match(v))),
    "with_cents": lambda vals, s: _share(vals, lambda v: bool(re.search(r"\.\d{2}$", v)) and bool(_AMOUNT_RE.match(v))),
    Kind.AMOUNT: lambda vals, s: s["numeric"] if s["with_cents"] >= 0.5 else 0.0,
    Kind.OTHER: lambda vals, s: s["numeric"],  # plain numbers: amounts only if the header says so
    Kind.CUSTNO: lambda vals, s: _share(vals, lambda v: bool(_DIGITS_RE.match(v))),
}
_REPORTED = [k for k in _SCORERS if k not in ("numeric", "with_cents")]


class _Scores:
    """content_scores computed on demand: typing a column with a clear header
    needs one or two of them, not all fifteen passes over the sample."""

    def __init__(self, values: Sequence[str]) -> None:
        self.vals = [v.strip() for v in values if v is not None and v.strip()]
        self._got: dict = {}

    def __bool__(self) -> bool:
        return bool(self.vals)

    def __getitem__(self, key):
        if key not in self._got:
            self._got[key] = _SCORERS[key](self.vals, self)
        return self._got[key]

    def get(self, key, default=0.0):
        return self[key] if self.vals and key in _SCORERS else default


def content_scores(values: Sequence[str]) -> dict:
    """The share of non-empty values that look like each kind."""
    scores = _Scores(values)
    return {k: scores[k] for k in _REPORTED} if scores else {}


@dataclass(frozen=True)
class ColumnType:
    """One column's kind, with the confidence and the reason, for reports."""

    name: str
    kind: Kind
    confidence: float
    reason: str

    def to_dict(self) -> dict:
        return {"column": self.name, "kind": self.kind.value, "confidence": round(self.confidence, 3),
                "reason": self.reason}


# Kinds content alone can establish (validators make them specific).
_STRONG_CONTENT = (Kind.IDNO, Kind.PHONE, Kind.EMAIL, Kind.DATE, Kind.GENDER, Kind.BRANCH, Kind.NAME,
                   Kind.ADDRESS, Kind.AMOUNT)


_AGE_BAND = re.compile(r"年龄段|年龄层|年龄组|age[ _]?(group|band|range|bracket)")


def type_column(name: str, values: Sequence[str]) -> ColumnType:
    hinted = header_kind(name)
    scores = _Scores(values)
    if hinted is Kind.AGE and (_AGE_BAND.search(name.lower()) or scores and _share(scores.vals, str.isdigit) < 0.6):
        # 年龄段 "30-39", age_group, or a band written "30": not an age (a canary wrote its bare age there)
        hinted = None
    if hinted is Kind.BIRTHDATE and scores.get(Kind.DATE, 0) >= 0.5:
        return ColumnType(name, Kind.BIRTHDATE, 0.95, "header names a birth date; values are dates")
    if hinted is not None:
        content_kind = Kind.DATE if hinted is Kind.BIRTHDATE else hinted
        s = scores.get(content_kind, 0.0)
        if hinted is Kind.AMOUNT:
            s = max(s, scores.get(Kind.OTHER, 0.0))
        if hinted in (Kind.CUSTNO, Kind.ACCOUNT):
            s = scores.get(Kind.CUSTNO, 0.0)
        if hinted in (Kind.TIER, Kind.AGE, Kind.OTHER):
            s = 1.0 if values else 0.0
        if s >= 0.6:
            return ColumnType(name, hinted, min(0.99, 0.6 + 0.4 * s), f"header hint and {s:.0%} of values fit")
        if hinted is Kind.IDNO and scores.get("idno_mangled", 0.0) >= 0.6:
            return ColumnType(name, Kind.IDNO, 0.8, "header hint; ID numbers damaged by a spreadsheet "
                                                    "(linked by their first 15 digits and the name)")
    best = max(_STRONG_CONTENT, key=lambda k: scores.get(k, 0.0)) if scores else None
    if best is not None and scores.get(best, 0.0) >= 0.8:
        s = scores[best]
        return ColumnType(name, best, 0.5 + 0.45 * s, f"{s:.0%} of values look like {best.value}")
    if scores.get("idno_mangled", 0.0) >= 0.8:
        return ColumnType(name, Kind.IDNO, 0.7, "values look like ID numbers damaged by a spreadsheet")
    if hinted is None and scores.get(Kind.TIER, 0.0) >= 0.8:
        return ColumnType(name, Kind.TIER, 0.7, "a few repeated values naming customer tiers")
    if hinted is None and scores.get("unique_codes", 0.0) >= 0.9:
        return ColumnType(name, Kind.CUSTNO, 0.6, "distinct codes of one length: a customer (or record) number")
    if hinted is not None:
        return ColumnType(name, hinted, 0.4, "header hint only; values do not confirm it")
    return ColumnType(name, Kind.OTHER, 0.5, "no header hint and no distinctive content")


def type_columns(names: Sequence[str], columns: Sequence[Sequence[str]]) -> list[ColumnType]:
    """Type every column from its header and a sample of its values."""
    return [type_column(n, vals) for n, vals in zip(names, columns)]
