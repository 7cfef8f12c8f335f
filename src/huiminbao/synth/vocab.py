"""Word lists for the synthetic city: names, ICD-10 codes, charge items, drug codes.

Weights are rough national shares (surnames) or plausible mixes (diagnoses); the
point is data that looks like a real feed to a person reading it and exercises the
engine's branches (pre-existing cancers, chronic outpatient care, class-B items,
fully self-paid items, catalog drugs), not epidemiology.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES: tuple[tuple[str, float], ...] = tuple(
    (s, float(w))
    for s, w in (
        p.split(":")
        for p in _words(
            "王:71 李:70 张:67 刘:54 陈:45 杨:31 黄:25 赵:23 吴:20 周:19 徐:17 孙:15 马:15 朱:13 胡:13 郭:12 何:12 高:11 林:11 罗:9 "
            "郑:9 梁:9 谢:8 宋:8 唐:7 许:7 韩:7 冯:7 邓:7 曹:7 彭:6 曾:6 肖:6 田:6 董:5 袁:5 潘:5 于:5 蒋:5 蔡:5 "
            "余:5 杜:5 叶:5 程:5 苏:4 魏:4 吕:4 丁:4 任:4 沈:4 姚:4 卢:4 姜:4 崔:4 钟:4 谭:3 陆:3 汪:3 范:3 金:3 "
            "石:3 廖:3 贾:3 夏:3 付:3 方:3 白:3 邹:3 孟:3 熊:3 秦:3 邱:3 江:3 尹:3 薛:3 闫:3 段:3 雷:3 侯:3 史:3 "
            "陶:2 贺:2 顾:2 毛:2 郝:2 龚:2 邵:2 万:2 钱:2 武:2 戴:2 孔:2 欧阳:0.3 司马:0.1"
        )
    )
)
GIVEN_MALE = tuple(
    "伟强磊军洋勇杰涛明超辉刚平鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林博文志建国庆东海峰亮成新兵永春振宏胜德福生晨子轩睿泽铭"
)
GIVEN_FEMALE = tuple("芳娜敏静丽艳娟霞秀英燕玲桂兰萍红梅琳雪慧婷倩颖丹洁琴云莉佳欣怡雨萱涵诗梦悦馨瑶琪晶月凤珍美玉蓉")

# Pre-existing conditions (既往症): code, weight, kind. C50.9 is given to women only.
PREEXISTING: tuple[tuple[str, float, str], ...] = (
    ("I10", 30, "chronic"),
    ("E11.9", 22, "chronic"),
    ("I25.1", 8, "chronic"),
    ("I69.3", 6, "chronic"),
    ("J44.9", 5, "chronic"),
    ("N18.5", 3, "chronic"),
    ("K74.6", 2, "chronic"),
    ("I50.9", 2, "chronic"),
    ("G20", 1.5, "chronic"),
    ("D61.9", 0.5, "chronic"),
    ("M32.1", 0.5, "chronic"),
    ("C34.9", 4, "cancer"),
    ("C50.9", 3, "cancer"),
    ("C16.9", 2.5, "cancer"),
    ("C22.0", 2, "cancer"),
    ("C18.9", 2, "cancer"),
    ("C92.0", 0.5, "cancer"),
)
BREAST_CANCER = "C50.9"

DIAG_OUTPATIENT = _words("J06.9 J20.9 J02.9 K29.7 K21.0 M54.5 I10 E11.9 R51 L30.9 H10.9 N39.0 K02.9 A09.9 M17.9 E78.5")
DIAG_CHRONIC = _words("I10 E11.9 N18.5 I25.1 J44.9 G20 K74.6 D61.9 F20.9 I69.3 M32.1 Z94.0 B18.1")
DIAG_INPATIENT = _words(
    "J18.9 I63.9 I25.1 I20.0 K80.1 K35.8 S72.0 N20.0 J44.1 I50.9 E11.9 K92.2 M51.2 H25.9 K40.9 S06.0 I48.9 K85.9"
)
DIAG_SEVERE = _words("C34.9 C16.9 C22.0 C18.9 C92.0 C91.0 C83.3 I21.9 I61.9 S06.5 T31.3 N18.5 D61.9 Q21.1")
DIAG_SECONDARY = _words("I10 E11.9 E78.5 I25.1 K76.0 J44.9")

# Charge item types (医疗收费项目类别).
DRUG_TYPES = ("09", "10", "11")  # western drugs, herbal pieces, Chinese patent medicines
_ATC = _words("A02BC J01DC C09CA C10AA A10BA N02BE R05CB B01AC J01FA C08CA M01AE L04AD")
_SERVICE_TYPES = ("01", "02", "03", "04", "05", "06", "07", "12", "13")


def _drug_codes(prefix: str, n: int, start: int) -> list[str]:
    if prefix == "X":
        return [f"X{_ATC[i % len(_ATC)]}{i:03d}A001010{start + i:06d}" for i in range(n)]
    if prefix == "Z":
        return [f"ZA{i % 20:02d}AA{i:04d}0101{start + i:06d}" for i in range(n)]
    return [f"T{start + i:09d}" for i in range(n)]


def _items(lv: str, mix: dict[str, int], start: int) -> list[tuple[str, str, str]]:
    """(code, med_chrgitm_type, chrgitm_lv) rows of one class of the charge-item catalog."""
    rows: list[tuple[str, str, str]] = []
    for typ, n in mix.items():
        base = start + len(rows)
        if typ == "09":
            codes = _drug_codes("X", n, base)
        elif typ == "11":
            codes = _drug_codes("Z", n, base)
        elif typ == "10":
            codes = _drug_codes("T", n, base)
        elif typ == "08":
            codes = [f"C{int(lv):02d}{base + i:017d}" for i in range(n)]
        else:
            codes = [f"00{typ}{int(lv):02d}{base + i:09d}" for i in range(n)]
        rows.extend((c, typ, lv) for c in codes)
    return rows


ITEMS: dict[str, list[tuple[str, str, str]]] = {
    "01": _items("01", {"09": 30, "11": 10, "08": 5, **dict.fromkeys(_SERVICE_TYPES, 5)}, 1000),
    "02": _items("02", {"09": 30, "11": 15, "10": 10, "08": 10, "05": 5, "06": 5}, 2000),
    "03": _items("03", {"09": 20, "10": 5, "11": 5, "08": 10, "14": 5}, 3000),
}


def default_drug_catalogs() -> dict[str, tuple[str, ...]]:
    """Synthetic high-cost drug codes when neither the plan nor the caller gives any."""
    specific = tuple(f"XL01XC{i:03d}B002010{900000 + i:06d}" for i in range(25))
    special = tuple(f"XL01XE{i:03d}B002010{950000 + i:06d}" for i in range(8))
    return {"specific_drugs": specific, "special_drugs": special}


TOWNS = tuple(["城关", "张庄", "李营", "王集", "刘堂", "赵寨", "孙楼", "马桥", "陈店", "杨屯", "新村", "古城"])
PHARMACY_BRANDS = ("漱玉平民", "国大", "华润", "老百姓")
