"""Administrative division codes (GB/T 2260) for ID numbers and addresses.

Why: the first six digits of an ID number name the county-level division
where it was issued, and a careful leaker checks that a customer's address
lies in the same place. Canaries and synthetic data draw their region from
this table so that ID and address agree; validators use it to read the
region back out of a free-text address.

The table is deliberately partial (about 150 urban districts over 31
provinces) and holds only current codes we are sure of. Province-level codes
are complete. Municipalities (Beijing, Tianjin, Shanghai, Chongqing) use the
province name as the city name, so full names read '北京市海淀区'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: All 34 province-level divisions: code -> name.
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}
PROVINCE_CODES: frozenset[str] = frozenset(PROVINCES)
#: Province-level municipalities: the province is also the city.
MUNICIPALITIES: frozenset[str] = frozenset({"11", "12", "31", "50"})

# One line per prefecture-level city: 4-digit city code, city name, then
# districts as <last two code digits><name>.
_CITIES = """
1101 北京市 01东城区 02西城区 05朝阳区 06丰台区 07石景山区 08海淀区 12通州区 14昌平区
1201 天津市 01和平区 02河东区 03河西区 04南开区 16滨海新区
1301 石家庄市 02长安区 04桥西区 05新华区 08裕华区
1401 太原市 05小店区 06迎泽区 07杏花岭区 09万柏林区
1501 呼和浩特市 02新城区 03回民区 05赛罕区
2101 沈阳市 02和平区 03沈河区 04大东区 05皇姑区 06铁西区
2102 大连市 02中山区 03西岗区 04沙河口区 11甘井子区
2201 长春市 02南关区 03宽城区 04朝阳区 05二道区 06绿园区
2301 哈尔滨市 02道里区 03南岗区 04道外区 10香坊区
3101 上海市 01黄浦区 04徐汇区 05长宁区 06静安区 07普陀区 10杨浦区 12闵行区 15浦东新区
3201 南京市 02玄武区 04秦淮区 05建邺区 06鼓楼区 13栖霞区 15江宁区
3205 苏州市 06吴中区 07相城区 08姑苏区
3301 杭州市 02上城区 05拱墅区 06西湖区 08滨江区 09萧山区 10余杭区
3302 宁波市 03海曙区 05江北区 12鄞州区
3401 合肥市 02瑶海区 03庐阳区 04蜀山区 11包河区
3501 福州市 02鼓楼区 03台江区 04仓山区 11晋安区
3502 厦门市 03思明区 06湖里区 11集美区
3601 南昌市 02东湖区 03西湖区 04青云谱区 11青山湖区
3701 济南市 02历下区 03市中区 04槐荫区 05天桥区 12历城区
3702 青岛市 02市南区 03市北区 12崂山区 13李沧区
4101 郑州市 02中原区 03二七区 04管城回族区 05金水区
4201 武汉市 02江岸区 03江汉区 04硚口区 05汉阳区 06武昌区 07青山区 11洪山区
4301 长沙市 02芙蓉区 03天心区 04岳麓区 05开福区 11雨花区
4401 广州市 03荔湾区 04越秀区 05海珠区 06天河区 11白云区 12黄埔区 13番禺区
4403 深圳市 03罗湖区 04福田区 05南山区 06宝安区 07龙岗区
4501 南宁市 02兴宁区 03青秀区 05江南区 07西乡塘区
4601 海口市 05秀英区 06龙华区 07琼山区 08美兰区
5001 重庆市 03渝中区 05江北区 06沙坪坝区 07九龙坡区 08南岸区 12渝北区
5101 成都市 04锦江区 05青羊区 06金牛区 07武侯区 08成华区
5201 贵阳市 02南明区 03云岩区
5301 昆明市 02五华区 03盘龙区 11官渡区 12西山区
5401 拉萨市 02城关区
6101 西安市 02新城区 03碑林区 04莲湖区 13雁塔区
6201 兰州市 02城关区 03七里河区
6301 西宁市 02城东区 03城中区
6401 银川市 04兴庆区
6501 乌鲁木齐市 02天山区 03沙依巴克区
"""


@dataclass(frozen=True)
class Region:
    """One county-level division: where an ID number was issued."""

    code: str  # 6 digits
    province: str
    city: str
    district: str

    @property
    def municipality(self) -> bool:
        return self.code[:2] in MUNICIPALITIES

    @property
    def full_name(self) -> str:
        """'广东省广州市天河区', or '北京市海淀区' for a municipality."""
        if self.municipality:
            return self.province + self.district
        return self.province + self.city + self.district

    @property
    def city_short(self) -> str:
        """The city without its '市' suffix: '广州', '北京'."""
        return self.city.removesuffix("市")

    @property
    def district_short(self) -> str:
        """The district as used in branch names: '天河', '浦东', '管城'."""
        for suffix in ("回族区", "新区", "区"):
            stem = self.district.removesuffix(suffix)
            if stem != self.district and len(stem) >= 2:
                return stem
        return self.district


def _load() -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for line in _CITIES.strip().splitlines():
        city_code, city, *districts = line.split()
        for token in districts:
            code = city_code + token[:2]
            regions[code] = Region(code, PROVINCES[code[:2]], city, token[2:])
    return regions


#: Division code -> Region, for the districts this module knows.
REGIONS: dict[str, Region] = _load()


def _address_pattern() -> tuple[re.Pattern[str], dict[str, Region]]:
    spelled: dict[str, Region] = {}
    for region in REGIONS.values():
        for form in (region.full_name, region.city + region.district, region.city_short + region.district):
            spelled.setdefault(form, region)
    # Longest first, so '武汉市青山区' never loses to a shorter spelling.
    alternatives = sorted(spelled, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, alternatives))), spelled


_ADDRESS_RE, _SPELLED = _address_pattern()


def region_in_address(address: str) -> Region | None:
    """The known region named in a free-text address, or None.

    Matches the full name ('广东省广州市天河区'), the city and district
    ('广州市天河区') or the short city and district ('广州天河区'), wherever
    it appears; the leftmost, then longest, mention wins.
    """
    match = _ADDRESS_RE.search(address)
    return _SPELLED[match.group(0)] if match else None
