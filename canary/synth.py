"""Canary synthesis: a synthetic customer made from the export's own rows.

A canary is made of several real rows of the same export, so its branch,
tier, balance, age and region follow the export's own distribution and
satisfy the export's own filter, yet no one row is its near twin: one row
(its donor) lends the place and the sex, another the surname and the phone
prefix, another of the same tier the amounts and other columns, another the
birthdate and the event dates (moved together). Every identifying value is
then a keyed-random one that is valid and consistent: an ID number with the
donor's region, a police block the region's other rows hold, a correct check
character; a phone number on the mate's issued prefix; the donor's street
with another house number. Nothing identifies any of them.

Pure: the caller supplies donors, the keyed stream, and a predicate telling
which identifiers are already taken (by real customers or other canaries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Mapping, Sequence

from . import contract
from .idcard import build_id, id_info
from .kinds import Kind
from .names import GIVEN_CHARS_FEMALE, GIVEN_CHARS_MALE, PINYIN, split_name, surname_spellings
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
_CJK = re.compile(r"[\u3400-\u9fff]")
_NUMBER = re.compile(r"\d+")
_SIXTEEN = timedelta(days=16 * 365 + 4)
_RECENT = timedelta(days=60)  # a date this near today (a last transaction) never moves further back
_EIGHTEEN = timedelta(days=18 * 365 + 4)  # no bank lends to a minor
# How far a loan's dates move: past a month, so the canary's contract is not
# its row's with the same grant (the pair a leaker looks for); within half a
# year, so a grant stays inside the list's span of grants.
_CONTRACT_SHIFT = (31, 182)
_CONTRACT_MONTHS = (2, 6)  # the same in whole months, where the balance is as of another day
# Headers of columns bound to a place or to the donor's own numbers (a city,
# a postcode, a branch's officer) or person (a title that follows the sex):
# their value stays the donor's. Every other column of no known kind (a
# credit score, an occupation) comes from the lender with the amounts, so the
# canary is no real row's near twin.
_PLACE_HINTS = ("邮编", "邮政", "postcode", "postal", "zip", "城市", "city", "省", "province", "市", "区", "县",
                "district", "county", "region", "地区", "state", "网点", "支行", "分行", "branch",
                "归属", "籍贯", "国籍", "nationality", "country", "国家", "机构", "经理", "manager",
                "officer", "area", "location", "town", "乡", "镇", "街道", "社区", "所在", "地",
                # bound to the donor's sex or name, which the canary keeps or derives
                "称谓", "title", "salutation", "拼音", "pinyin", "民族", "ethnic", "备注", "remark", "note")
# The carrier of the phone prefix, which the canary takes from its mate.
_PHONE_HINTS = ("运营商", "carrier")
# What follows the birthdate, which the canary takes (moved) from its timeline row.
# What follows the age (退休 at 35 gave 19% of canaries away, no real row), which the
# canary takes, unmoved, from the row its birthdate comes from.
_LIFE_HINTS = ("职业", "occupation", "job", "职务", "profession", "婚姻", "marital", "学历", "education", "退休",
               "retire")
_BIRTH_HINTS = ("年龄段", "age_group", "age group", "age band", "age_band", "生肖", "属相", "zodiac", "星座",
                "constellation", "horoscope", "年代", "generation", "birth_decade")
_REGION_CODES = tuple(sorted(REGIONS))
Taken = Callable[[Kind, str], bool]


@dataclass(frozen=True)
class CodeRange:
    """The codes of one shape a column holds: ``skeleton`` is a code with each
    digit written 9 (``VIP999999``), ``low``/``high`` the least and greatest
    digit strings of that shape to draw from. A customer number outside what
    the list shows (VIP009776 in a list ending at VIP005000) is a canary to
    anyone who sorts the column."""
    skeleton: str
    low: str
    high: str


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    codes: CodeRange | None = None  # customer numbers and accounts: draw within these
    # An amount column of a short menu of small values (a rate, 4.35): a canary
    # keeps the lending row's as it is, and it holds no other amount still.
    menu: bool = False


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


def event_date(value: str | None) -> tuple[date, str] | None:
    """(date, format) of a date cell that may move, or None: no date, or a
    placeholder (9999-12-31, 1900-01-01), which stays as it is. (Public:
    tracer.canaries moves a canary's dates as synthesis does.)"""
    fmt = _date_format(value) if value else None
    d = _parse_date(value, fmt) if fmt else None
    return (d, fmt) if d is not None and date(1900, 3, 1) <= d <= date(9998, 11, 1) else None


parse_date, RECENT = _parse_date, _RECENT  # (public for tracer.canaries)


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
               today: date, taken: Taken, mate: Mapping[str, str | None] | None = None,
               lender: Mapping[str, str | None] | None = None,
               timeline: Mapping[str, str | None] | None = None,
               blocks: Sequence[tuple[str, int]] | None = None) -> dict[str, str | None]:
    """One canary row (column name -> text) made of several rows of the same
    list, none of which it pairs with: ``donor`` gives the place (street,
    branch, ID region) and the sex; ``mate`` the surname and the phone
    prefix; ``lender`` (the mate where not given), when its tier is the
    donor's, the amounts and other columns; ``timeline`` (the donor where not
    given) the birthdate and the event dates. ``blocks``:
    the police-station blocks (ID digits 15-16) of the donor's region among
    the list's other rows, with their counts; the canary draws its block
    from them (the donor's own where not given). A canary keeping more of
    one row made that row its twin, a pair a leaker can look for."""
    row: dict[str, str | None] = dict(donor)
    mate = donor if mate is None else mate
    # One row lending both surname and balance made the canary its twin (a review paired
    # 97-99% of canaries with their mates on surname and balance alone).
    lender = mate if lender is None else lender
    timeline = donor if timeline is None else timeline
    by_kind: dict[Kind, list[str]] = {}
    for c in columns:
        by_kind.setdefault(c.kind, []).append(c.name)

    def first(kind: Kind, of: Mapping[str, str | None] = donor) -> str | None:
        names = by_kind.get(kind)
        return of.get(names[0]) if names else None

    def born_of(of: Mapping[str, str | None]) -> date | None:
        """A row's birthdate: from its ID number, else a birthdate column, else an age."""
        info = id_info((first(Kind.IDNO, of) or "").strip().upper(), today=today)
        born = info.birthdate if info is not None else _parse_date(first(Kind.BIRTHDATE, of) or "")
        if born is not None and not date(1900, 1, 1) <= born <= today:
            born = None  # a placeholder, not a birthdate
        age_text = (first(Kind.AGE, of) or "").strip()
        if born is None and age_text.isdigit() and 18 <= int(age_text) <= 90:
            born = date(today.year - int(age_text) - 1, 1, 1) + timedelta(days=stream.below(365))
        return born

    donor_id = (first(Kind.IDNO) or "").strip().upper()
    donor_info = id_info(donor_id, today=today)
    gender_text = (first(Kind.GENDER) or "").strip()
    if gender_text in ("男", "女", "M", "F", "m", "f"):
        male = gender_text in ("男", "M", "m")
    elif donor_info is not None:
        male = donor_info.male
    else:
        male = stream.below(2) == 1

    # Birthdate and event dates: the timeline row's. The dates move together by
    # one draw of up to a month (a loan's term kept, a date in the future stays
    # there, a recent one stays recent); the birthdate by up to a year, never
    # so far that the canary is younger at an event than the row was (up to 16).
    # The donor's own, with its place, paired every canary with its donor (a
    # review: street, gender, ID region and block, phone prefix, birth year).
    donor_born = born_of(donor)  # the donor's email may hold its birth year

    def events_of(of: Mapping[str, str | None]) -> dict[str, tuple[date, str]]:
        return {name: got for name in by_kind.get(Kind.DATE, []) if (got := event_date(of.get(name)))}

    def deal_of(of: Mapping[str, str | None]) -> contract.Contract | None:
        return contract.find(of, {n: d for n, (d, _) in events_of(of).items()}, numbers, today)

    def tier_of(of: Mapping[str, str | None]) -> list[str]:
        return [(of.get(t) or "").strip() for t in by_kind.get(Kind.TIER, [])]

    # A loan (a term that takes the grant to the maturity): the whole contract is one
    # row's, recomputed after the move (canary/contract.py). Term from the lender and
    # dates from the timeline row broke term against dates for 85% of canaries. The
    # contract follows the tier, so it is the timeline row's where that row is of the
    # donor's tier, else the lender's (a quarter of a loan book's canaries), else the
    # donor's own (when none drawn is of its tier); the free columns then come from
    # another row (the timeline row, the lender), so that no one row lends both.
    deal, free_any_tier = None, False
    numbers = [c.name for c in columns if c.kind in (Kind.AMOUNT, Kind.OTHER)]
    for row_of in (timeline, lender, donor):
        if row_of is not mate and tier_of(row_of) == tier_of(donor):
            deal = deal_of(row_of)
            if deal is not None:
                break
    if deal is not None and len(deal.rules) > 1:
        others = [deal_of(r) for r in (timeline, lender, donor, mate) if r is not row_of]
        deal = contract.agree(deal, [o for o in others if o is not None])
    if deal is not None and row_of is not timeline:
        free_any_tier = True
        timeline, lender = (lender, timeline) if row_of is lender else (donor, lender if lender is not mate
                                                                         else timeline)
    row_born = donor_born if timeline is donor else born_of(timeline)
    events = events_of(timeline)
    past = [d for d, _ in events.values() if d <= today]
    future = [d for d, _ in events.values() if d > today]
    months = 0
    if deal is None:
        later = min([30] + [(today - d).days for d in past])
        # A recent date (a last transaction) only moves nearer: moved back, 33% of canaries
        # fell outside a list whose last transactions are all of the last 40 days (a review).
        earlier = min([30] + [(d - today).days - 1 for d in future] + [0 for d in past if today - d <= _RECENT])
        moved = timedelta(days=stream.below(later + earlier + 1) - earlier)
    else:
        grant = events[deal.start][0]
        scale = _factor(stream, 0.005, 0.03)  # the principal's, where it has cents to move
        # Where the rows seen agree with several schedules (a young loan's balance is the
        # same by each), a move on which they part would guess: draw again (a few times).
        for _ in range(20):
            if deal.balance is not None and not deal.asof_today:
                months = _contract_months(grant, list(events.values()), today, stream,
                                          deal.paid, int(timeline[deal.term]) * deal.unit)
                moved = contract.add_months(grant, months) - grant
            else:
                moved = timedelta(days=_contract_shift(past, future, today, stream))
            if contract.settled(deal, timeline, grant + moved, scale, today, months):
                break

    # With a loan the birthdate is the mate's, not the contract row's (both with the
    # contract paired the canary with that row), no later than keeps the canary as old
    # at the loan's events as that row's borrower was (up to 18).
    mate_born = born_of(mate) if deal is not None else None
    base_born = mate_born or row_born
    cap = _EIGHTEEN if deal is not None else _SIXTEEN

    def need(d: date) -> timedelta:
        """How old the canary must be at event ``d``: as old as the timeline row
        was (up to 16, 18 with a loan), or that cap where the row shows no birth before it."""
        return min(d - row_born, cap) if row_born is not None and d >= row_born else cap

    # Columns showing the birth (an animal, a sign, an age band) are the row's the birth
    # comes from: the canary's is drawn where its own shows the same way, or they are rewritten.
    birth_row = mate if mate_born is not None else timeline
    birth_cols = {name: (how, birth_row.get(name)) for name in by_kind.get(Kind.OTHER, [])
                  if _bound_to(name, _BIRTH_HINTS) and base_born is not None
                  and (how := birth_shown(birth_row.get(name), base_born, today, name))}
    shown = list(birth_cols.values())
    if base_born is not None:
        # The latest birth that keeps the canary no younger at each event than the row was.
        latest = min([365] + [((d + moved - need(d)) - base_born).days for d in past
                              if row_born is None or d >= row_born])
        too_young = deal is not None and latest < -365  # the mate is too young: earlier still
        latest = latest if too_young else max(latest, -365)
        first_k = latest - 364 if too_young else -365  # the births allowed: base_born + first_k..latest days

    def draw_birth() -> date:
        if base_born is None:
            return date(today.year - 25 - stream.below(40), 1, 1) + timedelta(days=stream.below(365))
        if too_young:
            return base_born + timedelta(days=latest - stream.below(365))
        return base_born + timedelta(days=stream.below(latest + 366) - 365)

    born = draw_birth()
    if shown and base_born is not None and _unsure_birth(born, shown, today):
        # One of the births the draw allows that shows as the values say, if any (a few hundred days).
        options = [b for k in range(first_k, latest + 1) if 18 <= _age(b := base_born + timedelta(days=k), today) <= 90
                   and not _unsure_birth(b, shown, today)]
        born = options[stream.below(len(options))] if options else born
    while _age(born, today) < 18:
        born -= timedelta(days=365)
    while _age(born, today) > 90:
        born += timedelta(days=365)
    for _ in range(60 if shown else 0):  # earlier, never later: no younger at any event
        if not _unsure_birth(born, shown, today):
            break
        born -= timedelta(days=1)

    born_shown = any(by_kind.get(k) for k in (Kind.IDNO, Kind.BIRTHDATE, Kind.AGE))
    region = donor_info.region if donor_info else stream.choice(_REGION_CODES)
    for name in by_kind.get(Kind.IDNO, []):
        # Digits 15-16 (a police station's block: a list from one county uses few) as
        # the region's other rows have them, the 17th drawn with the canary's sex;
        # any block if those run out.
        block = _block(blocks, stream) if blocks else (
            int(donor_id[14:16]) if donor_info is not None and donor_id[14:16].isdigit() else None)
        for attempt in range(50):
            if block is not None and attempt < 25:
                seq = block * 10 + stream.below(5) * 2 + (1 if male else 0)
            else:
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
        row[name] = _phone(donor.get(name), stream, taken, mate.get(name))
    for name in by_kind.get(Kind.NAME, []):
        row[name] = _name(donor.get(name), male, stream, mate.get(name))
    for name in by_kind.get(Kind.ADDRESS, []):
        v = donor.get(name)
        row[name] = _new_house_number(v, stream) if v else v
    codes = {c.name: c.codes for c in columns}
    for kind in (Kind.CUSTNO, Kind.ACCOUNT):
        for name in by_kind.get(kind, []):
            row[name] = _new_number(donor.get(name), kind, stream, taken, codes.get(name))
    names = by_kind.get(Kind.NAME, [])
    spelled = (donor.get(names[0]), row.get(names[0])) if names else (None, None)
    for name in by_kind.get(Kind.EMAIL, []):
        row[name] = _email(donor.get(name), stream, taken, mate=mate.get(name), names=spelled,
                           mate_name=mate.get(names[0]) if names else None,
                           years=(donor_born, born))
    same_tier = all((donor.get(t) or "").strip() == (lender.get(t) or "").strip()
                    for t in by_kind.get(Kind.TIER, []))
    free_from_lender = same_tier or free_any_tier  # another row's than the contract's
    for name in by_kind.get(Kind.OTHER, []):
        if _bound_to(name, _PHONE_HINTS):
            row[name] = mate.get(name)
        elif _bound_to(name, _BIRTH_HINTS):
            v = birth_row.get(name)
            row[name] = rewrite_birth_value(v, birth_cols[name][0], born) if name in birth_cols else v
        elif _bound_to(name, _LIFE_HINTS):
            row[name] = birth_row.get(name)
        elif free_from_lender and not _bound_to(name, _PLACE_HINTS):
            # what depends on the tier (amounts, products, scores) comes from one real row
            row[name] = lender.get(name)
    # Every amount column moves by one factor (a monthly payment stays the
    # annuity of the loan: a review found each moved apart broke it for 100% of
    # canaries), or none moves where one cannot (a round loan of 300000 stays
    # on the list's menu of amounts).
    amounts = {name: (lender if same_tier else donor).get(name) for name in by_kind.get(Kind.AMOUNT, [])}
    bound = {deal.principal, deal.rate, deal.payment, deal.balance} if deal is not None else set()
    # A rate (4.35) is no amount to move: with new cents it was a rate no real row
    # has (36 of 38 canaries), and as an amount too small to move it kept every
    # other amount still. Amounts moved by one factor keep an annuity at that rate.
    menu = {c.name for c in columns if c.menu}
    given = [v for name, v in amounts.items() if v and v.strip() and name not in bound and name not in menu]
    if not same_tier:
        # The donor's tier, so amounts of the donor's size, but not the donor's: with its
        # street, gender and branch, a balance equal to the yuan paired 13-31% of canaries
        # with their donors (a review's leaker check).
        factor = _factor(stream, 0.06, 0.25)
    else:
        # The lender's, moved a little: equal to the yuan, with its tier and free columns,
        # they paired 70% of canaries with their lenders in a list of 5,000 (15% of real rows).
        factor = _factor(stream, 0.005, 0.03)
    if not all(_movable(v) for v in given):
        factor = 1.0
    for name, v in amounts.items():
        if name in menu:
            row[name] = v
            continue
        if v and factor != 1.0:
            v = _scaled_amount(v, factor)
        # New cents: never a real customer's exact balance. A round amount (a loan
        # of 300000.00, or 300000) stays round: round amounts recur anyway.
        if v and "." in v and v.rpartition(".")[2].strip("0"):
            head, _, tail = v.rpartition(".")
            v = head + "." + "".join(str(stream.below(10)) if ch.isdigit() else ch for ch in tail)
        row[name] = v
    for name in by_kind.get(Kind.DATE, []):
        if name not in events:  # a placeholder or no date: as the timeline row has it
            row[name] = timeline.get(name)
            continue
        d, fmt = events[name]
        shifted = d + moved
        if born_shown and d <= today:
            # Only where the age clamp above moved the birth later (a 90-year-old's), or the
            # row shows no birth: no account is opened by a toddler.
            if shifted - born < need(d):
                shifted = min(born + need(d) + timedelta(days=stream.below(61)), today)
        row[name] = shifted.strftime(fmt)
    if deal is not None:
        # The contract row's principal moved a little (a round one stays on the menu),
        # its maturity, payment and balance recomputed: redrawn cents left the balance
        # off the schedule for 54-93% of canaries.
        fmt = events[deal.start][1]
        start = _parse_date(row[deal.start], fmt)
        row.update(contract.rewrite(deal, timeline, start, scale, today, fmt, months))
    return row


# Values a list derives from the birthdate: the Chinese zodiac animal (by the
# calendar year; a list counting lunar years differs for births before the
# new year, in January to mid-February, where no canary is born), the sign
# (boundaries differ by a day between tables: no canary is born within two
# days of one), an age band (30-39) and a birth decade (80后). A canary moved
# from its timeline row's birthdate shows its own: the row's, copied, gave
# the wrong animal for 45% of canaries and the wrong sign for 93% (a review).
_ANIMALS = "鼠牛虎兔龙蛇马羊猴鸡狗猪"
_ANIMALS_EN = ("rat", "ox", "tiger", "rabbit", "dragon", "snake", "horse", "goat", "monkey", "rooster", "dog", "pig")
_SIGN_STARTS = ((1, 20), (2, 19), (3, 21), (4, 20), (5, 21), (6, 22), (7, 23), (8, 23), (9, 23), (10, 24),
                (11, 23), (12, 22))  # 水瓶 (Aquarius) first
_SIGNS = ("水瓶", "双鱼", "白羊", "金牛", "双子", "巨蟹", "狮子", "处女", "天秤", "天蝎", "射手", "摩羯")
_SIGNS_EN = ("aquarius", "pisces", "aries", "taurus", "gemini", "cancer", "leo", "virgo", "libra", "scorpio",
             "sagittarius", "capricorn")
_WORD = re.compile(r"[A-Za-z]+")
_BAND = re.compile(r"(\d{1,3})(\s*(?:岁)?\s*[-~～—–至到]\s*)(\d{1,3})")
_DECADE = re.compile(r"^(\s*)(\d)0(\s*后\s*)$")


def _animal(born: date) -> int:
    return (born.year - 4) % 12  # 1900, 1912, ... 2020: the rat


def _sign(born: date) -> int:
    at = sum((born.month, born.day) >= start for start in _SIGN_STARTS)
    return (at - 1) % 12  # before 20 January: Capricorn, the last


def _near_sign_edge(born: date) -> bool:
    """Within two days of a sign's first day (tables differ by a day)."""
    # (the edges lie from 20 January to 22 December: none is near in another year)
    return any(abs((born - date(born.year, m, d)).days) <= 2 for m, d in _SIGN_STARTS)


def _english(word: str, names: tuple[str, ...], at: int) -> str:
    new = names[at]
    return new.upper() if word.isupper() and len(word) > 1 else new.title() if word[:1].isupper() else new


def birth_shown(value: str | None, born: date, today: date, header: str = "") -> str | None:
    """How ``value`` shows ``born``: 'animal', 'sign', 'band' (of the age on
    ``today``), 'decade', or as a number under its ``header``: 'animal0' or
    'animal1' (the animal's place from 0 or 1), 'tens' (the age's decade,
    30); None where it shows it no way this module computes (left as it is).
    An animal of a birth before 21 February may be the year's or, where the
    list counts lunar years, the year before's."""
    v = (value or "").strip()
    if not v:
        return None
    animals = [ch for ch in v if ch in _ANIMALS]
    words = [w.lower() for w in _WORD.findall(v)]
    theirs = {_animal(born)} | ({(_animal(born) - 1) % 12} if (born.month, born.day) <= (2, 20) else set())
    age = _age(born, today)
    if len(animals) == 1 and _ANIMALS.index(animals[0]) in theirs and not any(s in v for s in _SIGNS):
        return "animal"
    if len(words) == 1 and words[0] in _ANIMALS_EN and _ANIMALS_EN.index(words[0]) in theirs:
        return "animal"
    if v.isdigit() and len(v) <= 3:
        h = header.strip().lower()
        if any(k in h for k in ("生肖", "属相", "zodiac")):
            # (a code counted from 1 of the calendar year and one from 0 of the lunar year are one
            # number apart for a birth before 21 February: neither is sure there)
            reads = [off for off in (0, 1) for t in theirs if int(v) - off == t]
            return f"animal{reads[0]}" if len(reads) == 1 else None
        return "tens" if int(v) == age // 10 * 10 and int(v) >= 10 else None
    if v.isdigit() and len(v) == 4 and int(v) == born.year // 10 * 10:
        return "decade"  # 1990 for the 1990s
    signs = [i for i, s in enumerate(_SIGNS) if s in v]
    if signs == [_sign(born)] or words == [_SIGNS_EN[_sign(born)]]:
        return "sign"
    m = _BAND.search(v)
    if m and int(m.group(1)) <= age <= int(m.group(3)) and len(_BAND.findall(v)) == 1:
        return "band"
    m = _DECADE.match(v)
    if m and int(m.group(2)) == born.year % 100 // 10:
        return "decade"
    return None


def rewrite_birth_value(value: str, shown: str, born: date) -> str:
    """``value`` (which shows another birthdate as ``shown``) showing ``born``;
    a band as it is (the canary's birth is drawn inside it where its events
    allow: the list's other bands may be of other widths)."""
    if shown == "animal":
        at = _animal(born)
        if any(ch in _ANIMALS for ch in value):
            return "".join(_ANIMALS[at] if ch in _ANIMALS else ch for ch in value)
        return _WORD.sub(lambda m: _english(m.group(0), _ANIMALS_EN, at), value)
    if shown == "sign":
        at = _sign(born)
        for s in _SIGNS:
            if s in value:
                return value.replace(s, _SIGNS[at])
        return _WORD.sub(lambda m: _english(m.group(0), _SIGNS_EN, at), value)
    if shown == "decade":
        m = _DECADE.match(value)
        return f"{m.group(1)}{born.year % 100 // 10}0{m.group(3)}" if m else str(born.year // 10 * 10)
    if shown in ("animal0", "animal1"):
        return str(_animal(born) + int(shown[-1])).zfill(len(value.strip()))
    return value


def _unsure_birth(born: date, shown: list[tuple[str, str]], today: date) -> bool:
    """Whether ``born`` may show otherwise than the canary's values
    (``shown``: (how, the row's value) pairs) say: an animal or a sign a list
    may count otherwise, an age outside the band."""
    for how, value in shown:
        if how.startswith("animal") and (born.month, born.day) <= (2, 20):
            return True
        if how == "sign" and _near_sign_edge(born):
            return True
        if how in ("band", "tens") and birth_shown(value, born, today) != how:
            return True
    return False


def _contract_shift(past: list[date], future: list[date], today: date, stream: Stream) -> int:
    """Days a loan's dates move: more than a month (else the canary pairs
    with its contract row) and up to half a year, a date past staying past and
    one ahead staying ahead (a settled loan stays settled)."""
    least, most = _CONTRACT_SHIFT
    later = min([most] + [(today - d).days for d in past])
    earlier = min([most] + [(d - today).days - 1 for d in future])
    back = max(0, earlier - least + 1)
    ahead = max(0, later - least + 1)
    if back + ahead == 0:
        return stream.below(later + earlier + 1) - earlier
    at = stream.below(back + ahead)
    return -(least + at) if at < back else least + at - back


def _contract_months(start: date, events: list[tuple[date, str]], today: date, stream: Stream,
                     paid: int, term: int) -> int:
    """Whole months a loan's dates move where its balance is as of another
    day than the export's: the payments made move by as many, and stay
    between one and the last but one (the loan granted before that day and
    not yet repaid, as its row's). 0 where no such move keeps each date on
    its side of today (or a grant on the 29th-31st, which a month's end would
    move)."""
    least, most = _CONTRACT_MONTHS
    fits = [m for m in range(-most, most + 1) if abs(m) >= least and start.day <= 28
            and 1 <= paid - m <= term - 1
            and all((contract.add_months(d, m) <= today) == (d <= today) for d, _ in events)]
    return fits[stream.below(len(fits))] if fits else 0


_PLAIN_AMOUNT = re.compile(r"(-?)(\d+)(?:\.(\d+))?")


def _movable(value: str) -> bool:
    """Whether an amount may move: written plainly (not 1,234.50 or ¥12), of
    10 or more, with cents that are not .00. A round amount (a loan of
    300000, or 300000.00) stays: moved, it leaves the menu of amounts the list
    holds (340000: a review flagged 8% of canaries so), and round amounts
    recur anyway."""
    m = _PLAIN_AMOUNT.fullmatch(value.strip())
    return bool(m) and int(m.group(2)) >= 10 and bool((m.group(3) or "").strip("0"))


def _factor(stream: Stream, least: float, most: float) -> float:
    """1 plus or minus a share between ``least`` and ``most``."""
    return 1 + (1 if stream.below(2) else -1) * (least + (most - least) * stream.uniform())


def _scaled_amount(value: str, factor: float) -> str:
    """``value`` times ``factor``, with as many decimals; unchanged where it
    may not move (_movable)."""
    if not _movable(value):
        return value
    m = _PLAIN_AMOUNT.fullmatch(value.strip())
    return m.group(1) + f"{float(m.group(2) + '.' + m.group(3)) * factor:.{len(m.group(3))}f}"


def _bound_to(header: str, hints: tuple[str, ...]) -> bool:
    h = header.strip().lower()
    return any(hint in h for hint in hints)


def _block(blocks: Sequence[tuple[str, int]], stream: Stream) -> int | None:
    """A block drawn as often as the list's other rows of the region hold it."""
    total = sum(n for _, n in blocks)
    if total <= 0:
        return None
    at = stream.below(total)
    for block, n in sorted(blocks):
        if at < n:
            return int(block)
        at -= n
    return None


def _phone(value: str | None, stream: Stream, taken: Taken, mate: str | None = None) -> str | None:
    """A new number written as the donor's is, with the mate's prefix (the
    donor's where the mate has none issued): the donor's prefix beside its
    street and birth year paired canary and donor."""
    if not value:
        return value
    digits = _DIGIT.findall(value)
    if len(digits) < 11:
        return value
    lead = len(digits) - 11  # e.g. a +86 country code before the number
    prefix = "".join(digits[lead:lead + 3])
    mate_digits = _DIGIT.findall(mate or "")
    if len(mate_digits) >= 11 and "".join(mate_digits[-11:-8]) in ISSUED_PREFIXES:
        prefix = "".join(mate_digits[-11:-8])
    if prefix not in ISSUED_PREFIXES:
        prefix = stream.choice(ISSUED_PREFIXES)
    # Eight random digits after the prefix, not the donor's exchange (digits 4-7) with
    # four: the bank's own customers crowd its exchanges, and a phone-only match with a
    # new customer there would be far likelier than attribution's 1e-8 (a review found
    # raw new-customer rows accusing three recipients that way).
    for _ in range(50):
        new = list(digits[:lead]) + list(prefix) + [str(stream.below(10)) for _ in range(8)]
        it = iter(new)
        candidate = "".join(next(it) if ch.isdigit() else ch for ch in value)
        if new != digits and not taken(Kind.PHONE, "".join(new[lead:])):
            return candidate
    raise RuntimeError("could not find a free phone number for a canary")


def _name(value: str | None, male: bool, stream: Stream, mate: str | None = None) -> str | None:
    """A new name for the donor's: the mate's surname (the donor's if the mate
    has none), with new given characters; a Latin-script name keeps its given
    names and takes the mate's family name ("John Smith" + "Mary Jones" ->
    "John Jones"), never Chinese characters."""
    if not value or not value.strip():
        return value
    text, other = value.strip(), (mate or "").strip()
    if not _CJK.search(text):
        words = text.split()
        if len(words) < 2:
            return text
        family = other.split()[-1] if len(other.split()) >= 2 and not _CJK.search(other) else words[-1]
        return " ".join(words[:-1] + [family])
    surname, given = split_name(text)
    if other and _CJK.match(other):
        surname = split_name(other)[0]
    chars = GIVEN_CHARS_MALE if male else GIVEN_CHARS_FEMALE
    length = max(1, min(2, len(given) if given else 2))
    return surname + "".join(stream.choice(chars) for _ in range(length))


_STREET_NUMBER = re.compile(r"(\d+)号")


def _new_house_number(value: str, stream: Stream) -> str:
    """The donor's street with other numbers: a real place, nobody's address.
    The street number (digits before 号) is drawn from half to one and a half
    times the donor's (at least 1 to 9): drawn below it, canaries lived at low
    numbers (a leaker flagged 11-20% at 9 or less, 3% of real rows), and
    another row's number left a short street's range (29% of canaries past
    every number on their street). Every other number stays within the
    donor's (a 12-storey block gets no 99th-floor flat): a room number (3+
    digits before 室) is a floor no higher than the donor's and a door number
    no higher than the donor's or 4; any other number is drawn from 1 to the
    donor's own (at least 1 to 9)."""
    street = _STREET_NUMBER.search(value)

    def repl(m: re.Match) -> str:
        digits = m.group(0)
        if street is not None and m.start() == street.start(1):
            d = int(digits)
            low, high = (1, 9) if d <= 6 else ((d + 1) // 2, d + d // 2)
            return str(low + stream.below(high - low + 1))
        if len(digits) >= 3 and value[m.end():m.end() + 1] == "室":
            floor, door = int(digits[:-2]), int(digits[-2:])
            return f"{1 + stream.below(max(floor, 1))}{1 + stream.below(max(door, 4)):02d}"
        return str(1 + stream.below(max(int(digits), 9)))
    for _ in range(20):  # never the donor's own address (about one draw in fifty was)
        new = _NUMBER.sub(repl, value)
        if new != value:
            return new
    return new


def digit_string(value: str) -> str:
    """The code's digits, in order."""
    return "".join(_DIGIT.findall(value))


def skeleton(value: str) -> str:
    """The code's shape: every digit written 9, everything else as it is."""
    return _DIGIT.sub("9", value)


def _new_number(value: str | None, kind: Kind, stream: Stream, taken: Taken,
                codes: CodeRange | None = None) -> str | None:
    if not value:
        return value
    digits = digit_string(value)
    ndigits = len(digits)
    keep = max(1, min(ndigits - 4, ndigits // 3))
    # A card number whose check digit is right keeps one (a leaker runs Luhn).
    card = kind is Kind.ACCOUNT and ndigits >= 12 and luhn_ok(digits)
    window = None if card or codes is None or skeleton(value) != codes.skeleton else _draw_window(digits, keep, codes)
    for _ in range(50):
        if window is not None:
            lo, hi = window
            candidate = put_digits(value, str(lo + stream.below(hi - lo + 1)).zfill(ndigits))
        else:
            candidate = _replace_digits(value, stream, keep)
        if card:
            candidate = _with_check_digit(candidate)
        if candidate != value and not taken(kind, candidate):
            return candidate
    raise RuntimeError("could not find a free number for a canary")


def _draw_window(digits: str, keep: int, codes: CodeRange) -> tuple[int, int] | None:
    """Where a new code is drawn: the column's range, within the donor's
    leading digits (a branch or year prefix) where the two overlap. None
    (keep the digit-by-digit draw) past 2**63 codes."""
    lo, hi = int(codes.low), int(codes.high)
    rest = len(digits) - keep
    p_lo, p_hi = int(digits[:keep] + "0" * rest), int(digits[:keep] + "9" * rest)
    if max(lo, p_lo) <= min(hi, p_hi):
        lo, hi = max(lo, p_lo), min(hi, p_hi)
    if hi < lo or hi - lo >= 1 << 63 or len(str(hi)) > len(digits):
        return None
    return lo, hi


def put_digits(value: str, digits: str) -> str:
    """``value`` with its digits replaced, in order, by ``digits``."""
    it = iter(digits)
    return _DIGIT.sub(lambda m: next(it), value)


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


def _email(value: str | None, stream: Stream, taken: Taken, *, mate: str | None = None,
           names: tuple[str | None, str | None] = (None, None), mate_name: str | None = None,
           years: tuple[date | None, date] | None = None) -> str | None:
    """A new address on the donor's domain, built the way the list builds
    its addresses: the donor's name words in it become the canary's
    (john.smith -> john.jones), else the letters are the mate's (whose
    surname the canary took: wang85... -> li85...), its given name's
    romanised the canary's where they spell the mate's (wangwei -> wanglei,
    _respelled); a run of digits that
    starts with the donor's birth year takes the canary's; other digits are
    drawn anew. Random letters only where nothing of that shape is there."""
    if not value or "@" not in value:
        return value
    local, domain = value.rsplit("@", 1)
    # The donor's own address spelling the canary's name keeps the donor's style (the
    # mate's, in a list of mixed styles, mixed two: 33 of 36 canaries, no real row).
    own = _respelled(value, names[0], names[1])
    shaped = _email_like(local, own if own != value else _respelled(mate, mate_name, names[1]), names, years)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for attempt in range(50):
        if shaped is not None and attempt < 40:
            candidate = f"{_fill_digits(shaped, stream)}@{domain}"
        else:
            candidate = ("".join(stream.choice(letters) for _ in range(3 + stream.below(5)))
                         + stream.digits(stream.below(4)) + "@" + domain)
        if candidate != value and not taken(Kind.EMAIL, candidate.lower()):
            return candidate
    raise RuntimeError("could not find a free email for a canary")


_LETTERS = re.compile(r"[A-Za-z]+")
_SPELLED = re.compile(r"[A-Za-z][A-Za-z._-]*[A-Za-z]|[A-Za-z]")  # a name's letters, separators inside


def _cased(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _respelled(address: str | None, owner: str | None, canary_name: str | None) -> str | None:
    """``owner``'s address spelling the canary's name where it spells the
    owner's: its surname's pinyin and, before or after it, the given name
    whole or by initials (wangwei85, wang.w, weiwang), in the owner's order,
    separators and case. A real name whose given characters this module
    cannot read is taken on its shape. The address as it is otherwise
    (digits, a nickname, a surname alone)."""
    if not address or "@" not in address or not owner or not canary_name:
        return address
    if not (_CJK.search(owner) and _CJK.search(canary_name)):
        return address
    (surname, given), (c_surname, c_given) = split_name(owner), split_name(canary_name)
    new_given = [PINYIN.get(ch) for ch in c_given]
    new_surname = (surname_spellings(c_surname) or (None,))[0]
    local, domain = address.rsplit("@", 1)
    m = _SPELLED.search(local)
    if not given or not c_given or None in new_given or new_surname is None or m is None:
        return address
    letters = m.group()
    text = letters.lower()
    old_given = [PINYIN.get(ch) for ch in given]
    for sp in surname_spellings(surname):
        if text.startswith(sp) and len(text) > len(sp):
            rest, before = text[len(sp):], False
        elif text.endswith(sp) and len(text) > len(sp):
            rest, before = text[:-len(sp)], True
        else:
            continue
        sep = rest[-1] if before and rest[-1] in "._-" else rest[0] if not before and rest[0] in "._-" else ""
        spelt = rest.strip("._-")
        if not spelt.isalpha():
            continue
        if len(spelt) == 1 and (old_given[0] is None or spelt == old_given[0][0]):
            out = new_given[0][0]  # the first initial (w.wang, wang.w)
        elif len(spelt) == len(given) and (None in old_given or spelt == "".join(p[0] for p in old_given)):
            out = "".join(p[0] for p in new_given)  # initials
        elif (None in old_given and len(spelt) > len(given)) or spelt == "".join(old_given):
            out = "".join(new_given)
        else:
            continue
        # each part in the case the owner's has (WangWei, wang.Wei, WANGW)
        was_sur = letters[-len(sp):] if before else letters[:len(sp)]
        was_given = (letters[:-len(sp)] if before else letters[len(sp):]).strip("._-")
        sur = _cased(sp if surname == c_surname else new_surname, was_sur)
        out = _cased(out, was_given)
        new = out + sep + sur if before else sur + sep + out
        return local[:m.start()] + new + local[m.end():] + "@" + domain
    return address
_DRAW = "\x00"  # a digit still to be drawn (no address holds a NUL)


def _email_like(local: str, mate: str | None, names: tuple[str | None, str | None],
                years: tuple[date | None, date] | None) -> str | None:
    """The canary's local part with _DRAW where a digit is to be drawn, or None."""
    donor_name, canary_name = names
    out = None
    if donor_name and canary_name and not _CJK.search(donor_name):
        old, new = donor_name.lower().split(), canary_name.lower().split()
        if len(old) == len(new) and any(w in local.lower() for w in old):
            out = local
            for a, b in zip(old, new):
                out = re.sub(re.escape(a), b, out, flags=re.IGNORECASE)
    if out is None:
        mate_local = mate.rsplit("@", 1)[0] if mate and "@" in mate else None
        donor_letters, mate_letters = _LETTERS.findall(local), _LETTERS.findall(mate_local or "")
        if not donor_letters or len(donor_letters) != len(mate_letters):
            return None
        it = iter(mate_letters)
        out = _LETTERS.sub(lambda m: next(it), local)
    first = _NUMBER.search(out)
    if years is not None and years[0] is not None and first:
        donor_yy, canary_yy = f"{years[0].year % 100:02d}", f"{years[1].year % 100:02d}"
        run = first.group()
        if run.startswith(str(years[0].year)):
            run = str(years[1].year) + _DRAW * (len(run) - 4)
        elif run.startswith(donor_yy):
            run = canary_yy + _DRAW * (len(run) - 2)
        else:
            run = _DRAW * len(run)
        out = out[:first.start()] + run + _DIGIT.sub(_DRAW, out[first.end():])
    else:
        out = _DIGIT.sub(_DRAW, out)
    return out


def _fill_digits(shaped: str, stream: Stream) -> str:
    return "".join(str(stream.below(10)) if ch == _DRAW else ch for ch in shaped)
