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


def _syllables(chars: str, readings: str) -> dict[str, str]:
    words = readings.split()
    if len(words) != len(chars):
        raise ValueError("one reading per character")
    return dict(zip(chars, words))


#: How names are romanised in addresses (toneless pinyin; ü as v): every
#: surname above and every given-name character a canary is made of, so a
#: canary's email can spell its own name where the list's spell theirs.
#: Readings a name takes (曾 zeng, 单 shan, 覃 qin, 柏 bai, 茜 qian).
PINYIN: dict[str, str] = {
    **_syllables("".join(SURNAMES),
                 "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang "
                 "xie song tang xu han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai yu du ye cheng "
                 "su wei lv ding ren shen yao lu jiang cui zhong tan lu wang fan jin shi liao jia xia wei fu fang "
                 "bai zou meng xiong qin qiu jiang yin xue yan duan lei hou long shi tao li he gu mao hao gong shao "
                 "wan qian yan qin wu dai mo kong xiang tang chang wen kang shi wen niu fan ge xing an qi yi qiao wu "
                 "pang yan ni zhuang nie zhang lu yue zhai yin zhan shen ou geng guan lan jiao yu zuo liu gan zhu "
                 "bao ning shang fu shu ruan ke ji mei tong ling bi shan ji pei huo tu cheng miao gu sheng qu weng "
                 "ran luo"),
    **_syllables("".join(GIVEN_CHARS_MALE),
                 "wei qiang lei jun yong jie tao bin chao ming gang ping hui peng hua fei xin bo yu hao kai jian jun "
                 "fan shuai xu long lin liang cheng jian zhi guo feng yi dong bo chen hao xuan rui zhe hang ming "
                 "hong hai shan yan song bai jiang he sen bin wu bing li qing de fu gui sheng xiang rong chun yong "
                 "jin li kun guang zhong yi min fa xin li qing zhen tian zheng jian feng lei da rui ze jia hao xiang "
                 "zi yi an jun qi rui hui sheng fan"),
    **_syllables("".join(GIVEN_CHARS_FEMALE),
                 "fang na min jing li yan juan xia xiu ling gui ying lan ping yan hong mei li lin ting xue hui ying "
                 "qian jie qin yun jing yan qian lu yao yi jia xin yue jing qi wen lu dan lei wei lan fei xuan yan "
                 "wan yue feng cui zhen zhu yu cai hui shu zhen jiao yuan ni shan rong ying bei dai qiao mei xiao si "
                 "meng shi ya xin han xuan ke zi ruo ning bing qing hong fei yang qi jing rui yun ju qiu xiang yi "
                 "qiong wan sha jin qing"),
}
#: Compound surnames, whole.
COMPOUND_PINYIN: dict[str, str] = dict(zip(COMPOUND_SURNAMES, (
    "ouyang sima zhuge shangguan dongfang huangfu linghu murong yuchi xiahou situ gongsun zhangsun yuwen xuanyuan "
    "dugu nangong ximen duanmu baili huyan tantai gongye taishi shentu wenren moqi zhongli zongzheng puyang").split()))
#: Other spellings of surnames an address may use.
SURNAME_VARIANTS: dict[str, tuple[str, ...]] = {"吕": ("lv", "lu", "lyu"), "覃": ("qin", "tan"), "曾": ("zeng",),
                                                 "单": ("shan", "dan")}


def surname_spellings(surname: str) -> tuple[str, ...]:
    """How an address may spell a surname (none where it is not known)."""
    if surname in SURNAME_VARIANTS:
        return SURNAME_VARIANTS[surname]
    got = COMPOUND_PINYIN.get(surname) or (PINYIN.get(surname) if len(surname) == 1 else None)
    return (got,) if got else ()
