"""Canary synthesis: every canary passes the leaker's checks, is reproducible
from its stream, and reads dates the way strptime would."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from canary.idcard import build_id, parse_id
from canary.kinds import Kind
from canary.phones import ISSUED_PREFIXES
from canary.prf import Key, Stream
from canary.regions import REGIONS
from canary.synth import DATE_PATTERNS, Column, _date_format, _parse_date, synthesize
from canary.validators import row_problems

TODAY = date(2026, 11, 23)
FORMATS = [fmt for _, fmt in DATE_PATTERNS]
COLUMNS = [Column("客户号", Kind.CUSTNO), Column("姓名", Kind.NAME), Column("性别", Kind.GENDER),
           Column("身份证号", Kind.IDNO), Column("出生日期", Kind.BIRTHDATE), Column("年龄", Kind.AGE),
           Column("手机号", Kind.PHONE), Column("地址", Kind.ADDRESS), Column("邮箱", Kind.EMAIL),
           Column("账号", Kind.ACCOUNT), Column("月日均存款", Kind.AMOUNT), Column("开户日期", Kind.DATE),
           Column("客户等级", Kind.TIER)]


@st.composite
def donors(draw) -> dict:
    region = draw(st.sampled_from(sorted(REGIONS)))
    born = draw(st.dates(min_value=date(1940, 1, 1), max_value=date(2006, 1, 1)))
    seq = draw(st.integers(0, 999))
    phone = draw(st.sampled_from(ISSUED_PREFIXES)) + draw(st.text("0123456789", min_size=8, max_size=8))
    phone_shape = draw(st.sampled_from(["{}", "+86 {}", "{}-x"]))
    opened = draw(st.dates(min_value=date(1995, 1, 1), max_value=TODAY))
    r = REGIONS[region]
    return {
        "客户号": draw(st.from_regex(r"6[0-9]{11}", fullmatch=True)),
        "姓名": draw(st.sampled_from(["王伟", "欧阳娜娜", "李", "张小明"])),
        "性别": "男" if seq % 2 else "女",
        "身份证号": build_id(region, born, seq),
        "出生日期": born.strftime(draw(st.sampled_from(FORMATS))),
        "年龄": str(parse_id(build_id(region, born, seq), today=TODAY).age_on(TODAY)),
        "手机号": phone_shape.format(phone) if phone_shape != "{}-x" else f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
        "地址": f"{r.full_name}建设路{draw(st.integers(1, 999))}号{draw(st.integers(1, 30))}栋",
        "邮箱": draw(st.sampled_from(["abc12@qq.com", "Zhang.Wei@163.COM"])),
        "账号": draw(st.sampled_from(["6222 0210 0112 3456 789", "6228480402564890018"])),
        "月日均存款": f"{draw(st.integers(0, 10_000_000))}.{draw(st.integers(0, 99)):02d}",
        "开户日期": opened.strftime(draw(st.sampled_from(FORMATS))),
        "客户等级": "金卡",
    }


@settings(max_examples=200, deadline=None)
@given(donor=donors(), seed=st.integers(0, 2**32))
def test_a_canary_passes_every_check_and_follows_its_stream(donor, seed):
    key = Key(seed.to_bytes(32, "big"))
    row = synthesize(COLUMNS, donor, Stream(key, "canary/v1"), today=TODAY, taken=lambda kind, value: False)
    kinds = {c.name: c.kind for c in COLUMNS}
    assert row_problems({kinds[c]: v for c, v in row.items() if v}, today=TODAY) == []
    assert row == synthesize(COLUMNS, donor, Stream(key, "canary/v1"), today=TODAY, taken=lambda kind, value: False)
    # (an ID number may come back the same: the collision check drops it)
    for col in ("手机号", "客户号", "账号"):
        assert row[col] != donor[col]
    assert row["身份证号"][:6] == donor["身份证号"][:6]  # the donor's region
    assert _date_format(row["开户日期"]) == _date_format(donor["开户日期"])  # the donor's writing


def strptime_date(value: str) -> date | None:
    fmt = _date_format(value)
    try:
        return datetime.strptime(value.strip(), fmt).date() if fmt else None
    except ValueError:
        return None


@given(fmt=st.sampled_from(FORMATS), digits=st.text("0123456789", min_size=8, max_size=8),
       pad=st.sampled_from(["", " ", "\t"]))
def test_dates_are_read_as_strptime_reads_them(fmt, digits, pad):
    y, m, d = digits[:4], digits[4:6], digits[6:]
    text = pad + fmt.replace("%Y", y).replace("%m", m).replace("%d", d) + pad
    assert _parse_date(text) == strptime_date(text)


@settings(max_examples=200, deadline=None)
@given(donor=donors(), seed=st.integers(0, 2**32), floor=st.integers(1, 40), door=st.integers(1, 12),
       block=st.integers(1, 30))
def test_a_canary_is_no_younger_at_its_events_and_lives_no_higher_than_its_donor(donor, seed, floor, door, block):
    """A canary is born up to a year after its donor: its account-opening date
    must not make it younger at opening than the donor was (up to 16), and its
    flat must exist in the donor's kind of building (no 99th floor)."""
    donor = dict(donor, 地址=f"北京市朝阳区建设路8号{block}栋{floor}{door:02d}室")
    row = synthesize(COLUMNS, donor, Stream(Key(seed.to_bytes(32, "big")), "canary/v1"), today=TODAY,
                     taken=lambda kind, value: False)
    donor_born = parse_id(donor["身份证号"], today=TODAY).birthdate
    born = parse_id(row["身份证号"], today=TODAY).birthdate
    donor_gap = strptime_date(donor["开户日期"]) - donor_born
    sixteen = timedelta(days=16 * 365 + 4)
    assert strptime_date(row["开户日期"]) - born >= min(max(donor_gap, timedelta(0)), sixteen)
    assert strptime_date(row["开户日期"]) <= TODAY
    import re

    new_block, new_room = map(int, re.search(r"号(\d+)栋(\d+)室", row["地址"]).groups())
    assert 1 <= new_block <= max(block, 9)
    assert 1 <= new_room // 100 <= floor and 1 <= new_room % 100 <= max(door, 4)


@settings(max_examples=200, deadline=None)
@given(donor=donors(), seed=st.integers(0, 2**32))
def test_a_canary_card_number_passes_luhn_when_its_donors_does(donor, seed):
    from canary.synth import luhn_ok

    row = synthesize(COLUMNS, donor, Stream(Key(seed.to_bytes(32, "big")), "canary/v1"), today=TODAY,
                     taken=lambda kind, value: False)
    def digits(v: str) -> str:
        return "".join(ch for ch in v if ch.isdigit())

    assert luhn_ok(digits(donor["账号"]))  # both donor card numbers are valid ones
    assert luhn_ok(digits(row["账号"])) and row["账号"] != donor["账号"]
