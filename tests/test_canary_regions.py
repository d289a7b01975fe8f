"""Administrative division codes and finding a region in an address."""

from __future__ import annotations

import pytest

from canary.regions import MUNICIPALITIES, PROVINCE_CODES, PROVINCES, REGIONS, Region, region_in_address


def test_province_codes_are_the_34_province_level_divisions():
    assert len(PROVINCE_CODES) == 34
    assert {"11", "31", "44", "50", "54", "65", "71", "81", "82"} <= PROVINCE_CODES
    assert not {"10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70", "80", "83", "99"} & PROVINCE_CODES
    assert MUNICIPALITIES == {"11", "12", "31", "50"}


def test_table_is_wide_and_well_formed():
    assert len(REGIONS) >= 120
    assert len({code[:2] for code in REGIONS}) >= 20
    for code, region in REGIONS.items():
        assert region.code == code and len(code) == 6 and code.isascii() and code.isdigit()
        assert code[:2] in PROVINCE_CODES and region.province == PROVINCES[code[:2]]
        assert code[4:] != "00", "a district, not a city"
        assert region.district.endswith("区") and region.city.endswith("市")
    full_names = [r.full_name for r in REGIONS.values()]
    assert len(set(full_names)) == len(full_names)


@pytest.mark.parametrize("code, full_name, branch_stem", [
    ("110108", "北京市海淀区", "北京海淀"),
    ("110105", "北京市朝阳区", "北京朝阳"),
    ("310115", "上海市浦东新区", "上海浦东"),
    ("120116", "天津市滨海新区", "天津滨海"),
    ("500103", "重庆市渝中区", "重庆渝中"),
    ("440106", "广东省广州市天河区", "广州天河"),
    ("440305", "广东省深圳市南山区", "深圳南山"),
    ("330106", "浙江省杭州市西湖区", "杭州西湖"),
    ("320106", "江苏省南京市鼓楼区", "南京鼓楼"),
    ("510107", "四川省成都市武侯区", "成都武侯"),
    ("420106", "湖北省武汉市武昌区", "武汉武昌"),
    ("610113", "陕西省西安市雁塔区", "西安雁塔"),
    ("370202", "山东省青岛市市南区", "青岛市南"),
    ("350203", "福建省厦门市思明区", "厦门思明"),
    ("410104", "河南省郑州市管城回族区", "郑州管城"),
    ("650102", "新疆维吾尔自治区乌鲁木齐市天山区", "乌鲁木齐天山"),
])
def test_known_codes(code, full_name, branch_stem):
    region = REGIONS[code]
    assert region.full_name == full_name
    assert region.city_short + region.district_short == branch_stem


@pytest.mark.parametrize("address, code", [
    ("北京市海淀区中关村大街1号", "110108"),
    ("广东省广州市天河区天河路385号", "440106"),
    ("广州市天河区天河路385号", "440106"),          # province left out
    ("广州天河区天河路385号", "440106"),            # '市' left out too
    ("收货地址：湖北省武汉市青山区和平大道", "420107"),  # not at the start
    ("江西省南昌市青山湖区北京东路", "360111"),      # 青山湖区, not 武汉's 青山区
    ("吉林省长春市朝阳区人民大街", "220104"),        # 朝阳区 of 长春, not 北京
    ("福建省福州市鼓楼区五四路", "350102"),
    ("江苏省南京市鼓楼区中山北路", "320106"),
    ("重庆市江北区观音桥", "500105"),
    ("浙江省宁波市江北区人民路", "330205"),
])
def test_region_in_address_finds_the_region(address, code):
    found = region_in_address(address)
    assert found is not None and found.code == code


@pytest.mark.parametrize("address", [
    "", "朝阳区建国路88号",      # district alone is ambiguous: 北京 or 长春
    "广东省东莞市南城区", "中山路100号", "海淀",
])
def test_region_in_address_unknown(address):
    assert region_in_address(address) is None


def test_region_is_frozen():
    with pytest.raises(AttributeError):
        REGIONS["110108"].district = "x"  # type: ignore[misc]
    assert Region("110108", "北京市", "北京市", "海淀区") == REGIONS["110108"]
