"""An evaluation set for address lookup, written the way people write addresses.

Independent of the parser on purpose: nothing from ``gridmap.lookup.address``
or ``gridmap.lookup.normalise`` is imported. The registry's addresses are split
with this file's own regular expression, variants are written with this file's
own tables (traditional characters via OpenCC ``s2t``, the opposite direction
of the one gridmap uses; look-alike radicals; homophones), and the truth comes
from the geometry: a ``geopandas.sjoin`` of the household points with the
micro-grid polygons (smallest id on shared boundaries), not gridmap's join.

The town is gridmap's synthetic one (``gridmap.datasets.synth.synth_layers``)
with a few streets renamed so that real-town neighbours exist side by side
(人民路 and 人民东路, 建设路 and 建设二路, 向阳街 and 向阳路), and a 小区 column
naming each street's compound, so the registry has aliases.

Classes: answerable ones (right = ``ok`` with the true micro-grid; for
building-level queries on a building several owners share, ``ambiguous`` with
the true owner among the candidates is right) and unanswerable ones (a street,
direction, ordinal or building that does not exist: right = not ``ok``).
``wrong`` = ``ok`` with another owner (or ``ok`` on an unanswerable query).

Run ``python tests/lookup_eval.py`` to print the per-class table.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gridmap.datasets.synth import synth_layers
from gridmap.lookup import AddressRegistry
from gridmap.workspace.store import Workspace

#: The registry's canonical form, split here with our own expression.
_CANON = re.compile(r"^(?P<s>.+?)(?P<b>\d+)号楼(?P<u>\d+)单元(?P<r>\d+)室$")
_TYPES = ("大道", "路", "街")
FULL = str.maketrans("0123456789-", "０１２３４５６７８９－")
CN = "零一二三四五六七八九"
#: Look-alike code points people paste: CJK radicals supplement and Kangxi radicals.
LOOKALIKE = {
    "西": "\u2ec4",
    "长": "\u2ed3",
    "门": "\u2ed4",
    "车": "\u2ecb",
    "马": "\u2ee2",
    "黄": "\u2ee9",
    "龙": "\u2ef0",
    "风": "\u2edb",
    "青": "\u2ed8",
    "见": "\u2ec5",
    "人": "\u2f08",
    "大": "\u2f24",
    "工": "\u2f2f",
    "文": "\u2f42",
    "日": "\u2f47",
    "月": "\u2f49",
    "水": "\u2f54",
    "山": "\u2f2d",
    "生": "\u2f63",
    "田": "\u2f65",
}
#: Homophones of characters in street names (same tone-less pinyin, not a direction,
#: ordinal or road-type word).
HOMOPHONES = {
    "阳": "洋",
    "华": "化",
    "明": "名",
    "光": "广",
    "福": "富",
    "利": "力",
    "建": "健",
    "设": "社",
    "放": "方",
    "文": "闻",
    "化": "画",
    "平": "萍",
    "和": "河",
    "民": "敏",
    "年": "念",
    "青": "清",
    "育": "玉",
    "才": "材",
    "宾": "滨",
    "结": "洁",
    "农": "浓",
    "关": "官",
    "楼": "娄",
    "汾": "分",
    "府": "富",
    "前": "钱",
    "尧": "姚",
    "都": "督",
    "胜": "圣",
    "朝": "潮",
    "鼓": "古",
    "迎": "营",
    "团": "湍",
    "工": "公",
    "解": "姐",
    "幸": "杏",
    "向": "象",
    "新": "欣",
    "风": "峰",
    "友": "有",
    "谊": "义",
}
COMPOUNDS = [
    "阳光小区", "锦绣家园", "幸福里小区", "翠苑", "金色家园", "和谐小区", "书香门第", "康乐苑",
    "碧水苑", "怡景花园", "春晖小区", "丽景苑", "紫荆花园", "华府小区", "御景园", "龙湖苑",
    "颐和小区", "兰亭苑", "景秀家园", "欣苑", "安居小区", "泰和苑", "瑞景园", "嘉禾小区",
    "福泽苑", "雅居园", "荣华小区", "清苑", "明珠花园", "朗润园",
]  # fmt: skip
PREFIXES = ["山西省临汾市尧都区", "临汾市尧都区", "尧都区", "山西省临汾市"]
ANSWERABLE = (
    "canonical",
    "traditional",
    "zero_arabic",
    "zero_ling",
    "lookalike_twin",
    "lookalike",
    "zero_width",
    "full_width",
    "cn_numerals",
    "dash",
    "prefix",
    "hash_lou",
    "dan",
    "door_number",
    "hao_yuan",
    "street_after",
    "bracket",
    "swapped",
    "pinyin",
    "alias",
    "homophone",
    "missing_char",
    "wrong_char",
    "missing_type",
    "unit_men",
    "pasted_contact",
    "room_unknown",
)
UNANSWERABLE = (
    "wrong_direction",
    "wrong_ordinal",
    "wrong_road_type",
    "missing_street",
    "building_unknown",
)
#: Right-answer floors per class (share of the class's queries).
FLOORS = dict.fromkeys(ANSWERABLE, 0.95) | dict.fromkeys(UNANSWERABLE, 1.0)
FLOORS.update(
    {"homophone": 0.6, "missing_char": 0.5, "wrong_char": 0.5, "pinyin": 0.8, "missing_type": 0.7}
)


@dataclass
class Query:
    text: str
    cls: str
    household: str
    answerable: bool
    building_level: bool = False


def build_town(seed: int = 11, households: int = 3000) -> dict[str, gpd.GeoDataFrame]:
    """The synthetic town with neighbouring street names and a 小区 column."""
    layers = synth_layers(seed=seed, households=households, microgrids=households // 12)
    hh = layers["households"].copy()
    parts = hh["address"].str.extract(_CANON)
    streets = sorted(parts["s"].dropna().unique())
    # real towns have 人民路 next to 人民东路: whole streets are renamed into such neighbours
    renames: dict[str, str] = {}
    used = set(streets)
    for i, kind in enumerate(("东", "二", "type", "西", "南", "三")):
        target, base = streets[3 * i + 1], streets[3 * i + 2]
        stem, typ = _split_type(base)
        new = stem + ("街" if typ != "街" else "路") if kind == "type" else stem + kind + typ
        if new not in used and target not in renames and base not in renames:
            renames[target] = new
            used.add(new)
    parts["s"] = parts["s"].replace(renames)
    hh["address"] = parts["s"] + parts["b"] + "号楼" + parts["u"] + "单元" + parts["r"] + "室"
    names = {s: COMPOUNDS[i % len(COMPOUNDS)] for i, s in enumerate(sorted(parts["s"].unique()))}
    hh["小区"] = parts["s"].map(names)
    layers["households"] = hh
    return layers


def _split_type(street: str) -> tuple[str, str]:
    for t in _TYPES:
        if street.endswith(t):
            return street[: -len(t)], t
    return street, ""


def truth_owners(layers: dict[str, gpd.GeoDataFrame]) -> pd.Series:
    """Micro-grid of each household from geopandas.sjoin (covers; smallest id on ties)."""
    hh = layers["households"][["household_id", "geometry"]]
    mg = layers["microgrids"][["microgrid_id", "geometry"]]
    j = gpd.sjoin(hh, mg, how="left", predicate="covered_by")
    j = j.sort_values(["household_id", "microgrid_id"]).drop_duplicates("household_id")
    return j.set_index("household_id")["microgrid_id"]


def _pinyin_name(street: str) -> str:
    from pypinyin import lazy_pinyin

    stem, typ = _split_type(street)
    words = ["".join(lazy_pinyin(stem)).capitalize()]
    if typ:
        words.append("".join(lazy_pinyin(typ)).capitalize())
    return " ".join(words)


def _cn(n: str) -> str:
    return "".join(CN[int(d)] for d in n)


def make_queries(layers: dict[str, gpd.GeoDataFrame], per_class: int = 40, seed: int = 5):
    """(queries, truth, owners-of-building) for the town."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    rng = np.random.default_rng(seed)
    hh = layers["households"]
    truth = truth_owners(layers)
    parts = hh["address"].str.extract(_CANON)
    parts["household_id"] = hh["household_id"].to_numpy()
    parts["alias"] = hh["小区"].to_numpy()
    parts["mg"] = parts["household_id"].map(truth)
    streets = set(parts["s"])
    unit_owners: dict[tuple, set] = defaultdict(set)
    for r in parts.itertuples():
        unit_owners[(r.s, r.b, r.u)].add(r.mg)
    max_b = parts.assign(bn=parts["b"].astype(int)).groupby("s")["bn"].max().to_dict()
    rooms = defaultdict(set)
    for r in parts.itertuples():
        rooms[(r.s, r.b, r.u)].add(r.r)
    inside = parts[parts["mg"].notna()].reset_index(drop=True)
    with_zero = inside[(inside["b"] + inside["u"] + inside["r"]).str.contains("0")]
    homophone_ok = inside[inside["s"].map(lambda s: any(c in HOMOPHONES for c in s))]
    lookalike_rows = inside[inside["s"].map(lambda s: any(c in LOOKALIKE for c in s))]
    pinyin_of = {s: _pinyin_name(s) for s in streets}
    py_count = Counter(v.replace(" ", "").lower() for v in pinyin_of.values())

    def pick(frame: pd.DataFrame, n: int) -> pd.DataFrame:
        return frame.sample(n=min(n, len(frame)), random_state=int(rng.integers(1 << 30)))

    out: list[Query] = []

    def add(cls: str, frame: pd.DataFrame, write, answerable=True, building_level=False):
        for r in pick(frame, per_class).itertuples():
            text = write(r)
            if text is not None:
                out.append(Query(text, cls, r.household_id, answerable, building_level))

    def canon(r):
        return f"{r.s}{r.b}号楼{r.u}单元{r.r}室"

    add("canonical", inside, canon)
    add("traditional", inside, lambda r: s2t.convert(f"{r.s}{r.b}号楼{r.u}单元{r.r}室"))
    zero_pick = pick(with_zero, per_class)
    for r in zero_pick.itertuples():
        out.append(Query(canon(r), "zero_arabic", r.household_id, True))
        ling = str(rng.choice(["〇", "○"]))
        out.append(
            Query(
                f"{r.s}{r.b.replace('0', ling)}号楼{r.u}单元{r.r.replace('0', ling)}",
                "zero_ling",
                r.household_id,
                True,
            )
        )
    look_pick = pick(lookalike_rows, per_class)
    for r in look_pick.itertuples():
        out.append(Query(canon(r), "lookalike_twin", r.household_id, True))
        s = "".join(LOOKALIKE.get(c, c) for c in r.s)
        out.append(Query(f"{s}{r.b}号楼{r.u}单元{r.r}", "lookalike", r.household_id, True))
    add("zero_width", inside, lambda r: f"{r.s}\u200b{r.b}号楼\u200c{r.u}单元{r.r}\ufeff")
    add("full_width", inside, lambda r: f"{r.s}{r.b}号楼{r.u}单元{r.r}".translate(FULL))
    add("cn_numerals", inside, lambda r: f"{r.s}{_cn(r.b)}栋{_cn(r.u)}单元{_cn(r.r)}")
    add("dash", inside, lambda r: f"{r.s}{r.b}-{r.u}-{r.r}")
    add("prefix", inside, lambda r: f"{rng.choice(PREFIXES)}{r.s}{r.b}号楼{r.u}单元{r.r}")
    add("hash_lou", inside, lambda r: f"{r.s}{r.b}#楼{r.u}单元{r.r}")
    add("dan", inside, lambda r: f"{r.s}{r.b}号楼{r.u}单{r.r}")
    add("door_number", inside, lambda r: f"{r.s}{rng.integers(100, 400)}号{r.b}号楼{r.u}单元{r.r}")
    add("hao_yuan", inside, lambda r: f"{r.s}{rng.integers(1, 40)}号院{r.b}号楼{r.u}单元{r.r}室")
    add("street_after", inside, lambda r: f"{r.b}号楼{r.u}单元{r.r}室 {r.s}")
    add("bracket", inside, lambda r: f"【{r.s}】{r.b}号楼{r.u}单元{r.r}室")
    add("swapped", inside, lambda r: f"{r.s}{r.u}单元{r.b}号楼{r.r}室")
    unique_py = inside[
        inside["s"].map(lambda s: py_count[pinyin_of[s].replace(" ", "").lower()] == 1)
    ]
    add("pinyin", unique_py, lambda r: f"{pinyin_of[r.s]} {r.b}-{r.u}-{r.r}")
    add("alias", inside, lambda r: f"{r.alias}{r.b}号楼{r.u}单元{r.r}")

    def homophone(r):
        cands = [i for i, c in enumerate(r.s) if c in HOMOPHONES]
        i = int(rng.choice(cands))
        typo = r.s[:i] + HOMOPHONES[r.s[i]] + r.s[i + 1 :]
        return None if typo in streets else f"{typo}{r.b}号楼{r.u}单元{r.r}"

    add("homophone", homophone_ok, homophone)

    def missing_char(r):
        stem, typ = _split_type(r.s)
        cands = [i for i, c in enumerate(stem) if c not in "东西南北中一二三四五六七八九十"]
        if len(stem) < 2 or not cands:
            return None
        i = int(rng.choice(cands))
        typo = stem[:i] + stem[i + 1 :] + typ
        return None if typo in streets or len(typo) < 2 else f"{typo}{r.b}号楼{r.u}单元{r.r}"

    add("missing_char", inside, missing_char)

    def wrong_char(r):  # one character mistyped (not a homophone, not a direction/ordinal/type)
        stem, typ = _split_type(r.s)
        cands = [i for i, c in enumerate(stem) if c not in "东西南北中一二三四五六七八九十"]
        if not cands:
            return None
        i = int(rng.choice(cands))
        typo = stem[:i] + str(rng.choice(list("春秋森林海江湖泉石金玉"))) + stem[i + 1 :] + typ
        return None if typo in streets else f"{typo}{r.b}号楼{r.u}单元{r.r}"

    add("wrong_char", inside, wrong_char)
    add("unit_men", inside, lambda r: f"{r.s}{r.b}栋{r.u}门{r.r}号")
    add(
        "pasted_contact",
        inside,
        lambda r: (
            f"{r.s}{r.b}号楼{r.u}单元{r.r}室 {rng.choice(['王大妈', '李师傅', '张'])} "
            f"1{rng.integers(3, 9)}{rng.integers(10**8, 10**9)}"
        ),
    )

    def missing_type(r):
        stem, typ = _split_type(r.s)
        return f"{stem}{r.b}号楼{r.u}单元{r.r}" if typ and len(stem) >= 2 else None

    add("missing_type", inside, missing_type)

    def room_unknown(r):
        for room in ("2502", "1808", "909", "3301"):
            if room not in rooms[(r.s, r.b, r.u)]:
                return f"{r.s}{r.b}号楼{r.u}单元{room}"
        return None

    add("room_unknown", inside, room_unknown, building_level=True)

    def sibling(r, kind):
        stem, typ = _split_type(r.s)
        if kind == "direction":
            options = [stem + d + typ for d in "东西南北"]
        elif kind == "ordinal":
            options = [stem + o + typ for o in "一二三四"]
        else:
            options = [stem + t for t in ("路", "街", "巷", "大道") if t != typ]
        options = [o for o in options if o not in streets]
        return f"{rng.choice(options)}{r.b}号楼{r.u}单元{r.r}" if options else None

    add("wrong_direction", inside, lambda r: sibling(r, "direction"), answerable=False)
    add("wrong_ordinal", inside, lambda r: sibling(r, "ordinal"), answerable=False)
    add("wrong_road_type", inside, lambda r: sibling(r, "type"), answerable=False)
    add(
        "missing_street",
        inside,
        lambda r: (
            f"{rng.choice(['康庄', '富民', '福寿', '永安'])}{rng.choice(['巷', '北巷', '胡同'])}"
            f"{r.b}号楼{r.u}单元{r.r}"
        ),
        answerable=False,
    )
    add(
        "building_unknown",
        inside,
        lambda r: f"{r.s}{max_b[r.s] + int(rng.integers(3, 30))}号楼{r.u}单元{r.r}",
        answerable=False,
    )
    owners_of = {
        r.household_id: unit_owners[(r.s, r.b, r.u)] for r in parts.itertuples(index=False)
    }
    return out, truth, owners_of


def judge(q: Query, res, truth: pd.Series, owners_of: dict) -> str:
    """'right' | 'ambiguous' | 'not_found' | 'wrong' for one answer."""
    if not q.answerable:
        return "wrong" if res.status == "ok" else "right"
    true_mg = truth.get(q.household)
    several = len(owners_of.get(q.household, ())) > 1
    if res.status == "ok":
        if q.building_level and several:
            return "wrong"
        if q.building_level and "room_unknown" not in res.flags:
            return "wrong"
        return "right" if res.microgrid_id == true_mg else "wrong"
    if res.status == "ambiguous":
        if (
            q.building_level
            and several
            and any(c.get("microgrid_id") == true_mg for c in res.candidates)
        ):
            return "right"
        return "ambiguous"
    return "not_found"


def evaluate(per_class: int = 40, seed: int = 11) -> tuple[pd.DataFrame, list]:
    """Build the town and its registry, answer every query; per-class table and failures."""
    layers = build_town(seed=seed)
    registry = AddressRegistry.from_workspace(Workspace(Path("eval.gpkg"), layers, (0, 0)))
    queries, truth, owners_of = make_queries(layers, per_class=per_class)
    rows = []
    bad = []
    for q in queries:
        res = registry.match_address(q.text)
        verdict = judge(q, res, truth, owners_of)
        rows.append({"class": q.cls, "verdict": verdict})
        if verdict != "right":
            bad.append((q.cls, q.text, res.status, res.microgrid_id, truth.get(q.household)))
    df = pd.DataFrame(rows)
    table = (
        df.groupby(["class", "verdict"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=["right", "ambiguous", "not_found", "wrong"], fill_value=0)
        .reindex([c for c in (*ANSWERABLE, *UNANSWERABLE) if c in set(df["class"])])
    )
    table["n"] = table.sum(axis=1)
    table["right_share"] = (table["right"] / table["n"]).round(3)
    table["floor"] = [FLOORS[c] for c in table.index]
    return table, bad


def main() -> None:
    table, bad = evaluate()
    print(table.to_string())
    total = table[["right", "ambiguous", "not_found", "wrong"]].sum()
    print(
        f"\n{int(table['n'].sum())} queries: {int(total['right'])} right, "
        f"{int(total['ambiguous'])} ambiguous, {int(total['not_found'])} not found, "
        f"{int(total['wrong'])} confidently wrong"
    )
    if "-v" in sys.argv:
        for b in bad:
            print(*b, sep=" | ")


if __name__ == "__main__":
    main()
