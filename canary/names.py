"""Chinese personal names: common surnames and given-name characters.

Why: canaries and synthetic customers need names that look like the rest of
a real list (a rare or odd name is a tell), and forensics needs to recognise
a name column and split a name to compare surnames. Lists are ordered from
most to least common, so a generator can weight by rank.
"""

from __future__ import annotations

#: About 150 most common single-character surnames, most common first.
SURNAMES: tuple[str, ...] = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆"
)

#: Two-character surnames; checked before single ones when splitting.
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "尉迟", "夏侯",
    "司徒", "公孙", "长孙", "宇文", "轩辕", "独孤", "南宫", "西门", "端木", "百里",
    "呼延", "澹台", "公冶", "太史", "申屠", "闻人", "万俟", "钟离", "宗政", "濮阳",
)

# Given-name characters avoid the second character of any compound surname
# (阳, 马, 官, 方, ...), so surname + given never reads as a compound surname.

#: Common characters in men's given names.
GIVEN_CHARS_MALE: tuple[str, ...] = tuple(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭龙林亮成建志国峰毅东博晨昊轩睿哲航"
    "铭宏海山岩松柏江河森彬武兵力庆德福贵生祥荣春永金立坤光忠义民发新利清振天正剑锋雷达瑞泽嘉"
    "豪翔子一安骏奇锐晖胜凡"
)

#: Common characters in women's given names.
GIVEN_CHARS_FEMALE: tuple[str, ...] = tuple(
    "芳娜敏静丽艳娟霞秀玲桂英兰萍燕红梅莉琳婷雪慧颖倩洁琴云晶妍茜璐瑶怡佳欣悦婧琪雯露丹蕾薇岚"
    "菲璇嫣婉月凤翠珍珠玉彩惠淑贞娇媛妮姗蓉莹蓓黛巧美晓思梦诗雅馨涵萱可紫若宁冰青虹霏洋琦璟蕊"
    "芸菊秋香仪琼琬莎瑾卿"
)

_COMPOUND_SET = frozenset(COMPOUND_SURNAMES)


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a Chinese name, compound-surname aware.

    A two-character prefix in :data:`COMPOUND_SURNAMES` is the surname when
    at least one character follows it ('欧阳娜娜' -> ('欧阳', '娜娜')); a bare
    two-character name is read as surname + given ('欧阳' -> ('欧', '阳')).
    Raises ValueError for an empty name.
    """
    name = name.strip()
    if not name:
        raise ValueError("empty name")
    if len(name) >= 3 and name[:2] in _COMPOUND_SET:
        return name[:2], name[2:]
    return name[:1], name[1:]
