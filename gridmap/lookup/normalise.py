"""Character folding before an address is parsed.

People type the same street in several character sets: traditional characters
(the press in the region writes ``樂昌鎮西南街3號樓``), look-alike radicals that
input methods and PDF copies produce (``⻄`` U+2EC4 for ``西``, ``⽤`` U+2F64
for ``用``), ``〇`` (U+3007) or ``○`` (U+25CB) offered for "ling" inside Arabic
digits (``1〇号楼`` is building 10), full-width digits, and zero-width
characters pasted from web pages or chat apps.

:func:`fold_characters` folds all of these before any address rule runs, so a
traditional or look-alike query reads exactly as its simplified twin:

1. zero-width characters (U+200B-U+200D, U+2060, U+FEFF, soft hyphen) removed;
2. CJK Radicals Supplement (U+2E80-U+2EFF) mapped to the ideograph each one
   stands for (:data:`CJK_RADICALS`);
3. Unicode NFKC (full-width forms, and the Kangxi radicals U+2F00-U+2FDF,
   whose compatibility decomposition is their ideograph);
4. traditional to simplified with OpenCC's ``t2s`` data (the ``opencc``
   package); text that is plain ASCII skips it;
5. ``〇``/``○``/``◯``/``零`` touching an Arabic digit read as ``0``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Zero-width and invisible characters that only break matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063"))

#: CJK Radicals Supplement -> the unified ideograph it stands for (the Unicode
#: Character Database's EquivalentUnifiedIdeograph for the BMP entries; radicals
#: whose equivalent lies outside the BMP, or have none, are left as they are).
#: Kangxi radicals (U+2F00-U+2FD5) need no table: NFKC maps them.
CJK_RADICALS: dict[str, str] = {
    "\u2e81": "厂",
    "\u2e82": "乙",
    "\u2e83": "乚",
    "\u2e85": "亻",
    "\u2e86": "冂",
    "\u2e89": "刂",
    "\u2e8a": "卜",
    "\u2e8b": "㔾",
    "\u2e8c": "小",
    "\u2e8d": "小",
    "\u2e8e": "兀",
    "\u2e8f": "尣",
    "\u2e90": "尢",
    "\u2e92": "巳",
    "\u2e93": "幺",
    "\u2e94": "彑",
    "\u2e95": "彐",
    "\u2e96": "忄",
    "\u2e97": "心",
    "\u2e98": "扌",
    "\u2e99": "攵",
    "\u2e9b": "旡",
    "\u2e9c": "日",
    "\u2e9d": "月",
    "\u2e9e": "歺",
    "\u2e9f": "母",
    "\u2ea0": "民",
    "\u2ea1": "氵",
    "\u2ea2": "氺",
    "\u2ea3": "灬",
    "\u2ea4": "爫",
    "\u2ea5": "爫",
    "\u2ea6": "丬",
    "\u2ea7": "牛",
    "\u2ea8": "犭",
    "\u2ea9": "王",
    "\u2eab": "罒",
    "\u2eac": "示",
    "\u2ead": "礻",
    "\u2eaf": "糹",
    "\u2eb0": "纟",
    "\u2eb1": "罓",
    "\u2eb2": "罒",
    "\u2eb3": "网",
    "\u2eb4": "网",
    "\u2eb6": "羊",
    "\u2eb9": "耂",
    "\u2ebb": "肀",
    "\u2ebc": "月",
    "\u2ebd": "臼",
    "\u2ebe": "艹",
    "\u2ebf": "艹",
    "\u2ec0": "艹",
    "\u2ec1": "虎",
    "\u2ec2": "衤",
    "\u2ec3": "覀",
    "\u2ec4": "西",
    "\u2ec5": "见",
    "\u2ec6": "角",
    "\u2ec7": "角",
    "\u2ec8": "讠",
    "\u2ec9": "贝",
    "\u2eca": "足",
    "\u2ecb": "车",
    "\u2ecc": "辶",
    "\u2ecd": "辶",
    "\u2ece": "辶",
    "\u2ecf": "阝",
    "\u2ed0": "钅",
    "\u2ed1": "長",
    "\u2ed2": "镸",
    "\u2ed3": "长",
    "\u2ed4": "门",
    "\u2ed5": "阜",
    "\u2ed6": "阝",
    "\u2ed7": "雨",
    "\u2ed8": "青",
    "\u2ed9": "韦",
    "\u2eda": "页",
    "\u2edb": "风",
    "\u2edc": "飞",
    "\u2edd": "食",
    "\u2edf": "飠",
    "\u2ee0": "饣",
    "\u2ee1": "首",
    "\u2ee2": "马",
    "\u2ee3": "骨",
    "\u2ee4": "鬼",
    "\u2ee5": "鱼",
    "\u2ee6": "鸟",
    "\u2ee7": "卤",
    "\u2ee8": "麦",
    "\u2ee9": "黄",
    "\u2eea": "黾",
    "\u2eeb": "斉",
    "\u2eec": "齐",
    "\u2eed": "歯",
    "\u2eee": "齿",
    "\u2eef": "竜",
    "\u2ef0": "龙",
    "\u2ef1": "龜",
    "\u2ef2": "亀",
    "\u2ef3": "龟",
}
_RADICAL_TABLE = {ord(k): v for k, v in CJK_RADICALS.items()}

#: Characters typed for "ling" (zero) inside Arabic numbers.
ZERO_LIKE = "〇○◯零"
_ZERO_RUN_RE = re.compile(f"[0-9{ZERO_LIKE}]*[0-9][0-9{ZERO_LIKE}]*|[{ZERO_LIKE}]+(?=[0-9])")
_ZERO_TABLE = str.maketrans(dict.fromkeys(ZERO_LIKE, "0"))


@lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def to_simplified(text: str) -> str:
    """Traditional -> simplified characters (OpenCC ``t2s``); ASCII text is returned as is."""
    if text.isascii():
        return text
    return _converter().convert(text)


def fold_characters(text: str) -> str:
    """Fold look-alike, traditional, invisible and zero-like characters (see module docs).

    Parameters
    ----------
    text
        Any text (an address as typed).

    Returns
    -------
    str
        The same text in simplified characters, NFKC, with ``〇``/``○``/``零``
        next to Arabic digits turned into ``0``. Nothing else is removed or
        reordered.
    """
    s = text.translate(_INVISIBLE)
    if not s.isascii():
        s = s.translate(_RADICAL_TABLE)
        s = unicodedata.normalize("NFKC", s)
        s = to_simplified(s)
        if any(z in s for z in ZERO_LIKE):
            s = _ZERO_RUN_RE.sub(lambda m: m.group(0).translate(_ZERO_TABLE), s)
    return s
