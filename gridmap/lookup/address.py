"""Normalise and parse Chinese household addresses as people actually write them.

A resident, a ledger or a phone note may write the same flat as

* ``西南街3号楼2单元501室`` (the registry's form),
* ``西南街３号楼２单元５０１`` (full-width digits, missing 室),
* ``西南街三号楼二单元五零一`` (Chinese numerals),
* ``西南街3栋2门501`` / ``西南街3幢2单元501房`` / ``西南街3#2U501`` (synonyms),
* ``西南街3-2-501`` or ``西南街3号楼2-501`` (the dash form),
* ``山西省临汾市尧都区西南街3号楼2单元5楼501`` (administrative prefix, floor word).

:func:`normalise_text` folds all of these to one canonical spelling
(``西南街3号楼2单元501室``) and :func:`parse_address` splits it into a
:class:`ParsedAddress` (street/compound, building, unit, room). Nothing here
knows the registry; :mod:`gridmap.lookup.matching` does the matching.

The only error raised is :class:`~gridmap.errors.AddressError` (empty or
non-text input).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from gridmap.errors import AddressError
from gridmap.lookup.normalise import fold_characters

#: Chinese digits (including the spoken 幺 and 两) -> value.
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "洞": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM_CHARS = "零〇○一幺二两三四五六七八九十百千"

#: Words after which a Chinese numeral is a number of the address (not part of a
#: street name such as 五一路 or 三里屯).
_NUM_FOLLOWERS = "号|栋|幢|座|单元|门|楼|层|室|房|户|-|#|$"
_CN_NUMBER_RE = re.compile(f"[{_CN_NUM_CHARS}]+(?=(?:{_NUM_FOLLOWERS}))")

#: Administrative suffixes that may end a leading prefix the registry does not
#: carry, tried in this order of preference at each step.
ADMIN_SUFFIXES: tuple[str, ...] = (
    "特别行政区",
    "自治区",
    "自治州",
    "街道办事处",
    "办事处",
    "居委会",
    "街道",
    "社区",
    "地区",
    "省",
    "市",
    "盟",
    "区",
    "县",
    "旗",
    "镇",
    "乡",
)
#: Names ending in 区 that are compounds, not districts.
_COMPOUND_AREAS = (
    "小区",
    "园区",
    "校区",
    "景区",
    "厂区",
    "矿区",
    "营区",
    "院区",
    "生活区",
    "住宅区",
    "宿舍区",
)
_ADMIN_RE = re.compile("^(.{1,12}?)(" + "|".join(ADMIN_SUFFIXES) + ")")
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣～~_"})
_BRACKETS_RE = re.compile(r"[(\[{（【〔［｛<《][^)\]}）】〕］｝>》]*[)\]}）】〕］｝>》]")
_KEEP_RE = re.compile(r"[^0-9A-Z\u3400-\u9fff\-#]")

_BUILDING = r"(?:(?<![A-Z])[A-Z])?\d+[A-Z]?|(?<![A-Z])[A-Z](?![A-Z])"
_ROOM = r"\d+[A-Z]?"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "full",
        re.compile(
            rf"^(?P<street>.*?)(?P<b>{_BUILDING})号楼(?:(?P<u>\d+|[A-Z])单元)?"
            rf"(?:(?P<f>\d+)(?:楼|层))?(?:(?P<r>{_ROOM})室?)?$"
        ),
    ),
    (
        "building-unit-dash",
        re.compile(rf"^(?P<street>.*?)(?P<b>{_BUILDING})号楼(?P<u>\d+)-(?P<r>{_ROOM})室?$"),
    ),
    (
        "dash3",
        re.compile(rf"^(?P<street>.*?)(?P<b>{_BUILDING})-(?P<u>\d+)-(?P<r>{_ROOM})室?$"),
    ),
    (
        "floor-as-building",
        re.compile(rf"^(?P<street>.*?)(?P<b>\d+)楼(?P<u>\d+)单元(?:(?P<r>{_ROOM})室?)?$"),
    ),
    (
        "unit-only",
        re.compile(rf"^(?P<street>.*?)(?P<b>\d+)-(?P<u>\d+)单元(?:(?P<r>{_ROOM})室?)?$"),
    ),
    ("dash2", re.compile(rf"^(?P<street>.*?)(?P<b>{_BUILDING})-(?P<r>{_ROOM})室?$")),
    # a Latin street name and its house number (Unioninkatu 29): the name is kept whole
    ("latin", re.compile(r"^(?P<street>.*[A-Z]{2})(?P<b>\d+[A-Z]?)$")),
)

_ZEROS_RE = re.compile(r"([A-Z]?)0*(\d+)(.*)")
#: A dash right after a building or unit word (3号楼-2-501, 2单元-501) says nothing.
_WORD_DASH_RE = re.compile(r"(号楼|单元)-(?=\d)")
_ORDINAL_RE = re.compile(f"第[0-9{_CN_NUM_CHARS}]")
_MULTI_DASH_RE = re.compile(r"-+")
_BUILDING_SYN_RE = re.compile(rf"({_BUILDING})(?:号楼|#楼|#栋|号栋|栋|幢|座|#)")
#: 2单402: 单 without 元 after a number, before the room.
_UNIT_SHORT_RE = re.compile(r"(\d+)单(?=\d|$)")
_UNIT_SYN_RE = re.compile(r"(\d+)(?:单元|门|U(?![A-Z]))")
_UNIT_PREFIX_RE = re.compile(r"(?<![A-Z])U(\d+)")
_ROOM_SYN_RE = re.compile(rf"({_ROOM})(?:号房|号室|室|房|户)")
_ROOM_HAO_RE = re.compile(rf"(单元|-)({_ROOM})号$")
_BARE_HAO_RE = re.compile(r"(\d+[A-Z]?)号(?=\d|-|$)(?!\d+[A-Z]?号楼)")
#: A bracket at the very start, right before the building number, holds the street
#: (【人民路】15号楼...), not a remark ((东门)西南街3号楼 keeps dropping 东门).
_LEADING_BRACKET_RE = re.compile(
    r"^\s*[(\[{（【〔［｛<《]([^)\]}）】〕］｝>》\d]+)[)\]}）】〕］｝>》]"
    rf"(?=\s*[0-9A-Z{_CN_NUM_CHARS}])"
)
_ADMIN2_RE = re.compile("^(.{2,12}?)(" + "|".join(ADMIN_SUFFIXES) + ")")
_STREET_END_RE = re.compile(r"\d|[A-Z](?:号楼|-)")


@dataclass(frozen=True)
class ParsedAddress:
    """One address split into its parts.

    Attributes
    ----------
    raw
        The text as given.
    normalised
        Canonical spelling after folding (prefix included).
    street
        Street, road or compound name (小区/院) with any administrative prefix
        removed; ``""`` when the address starts with the building.
    street_full
        The street part before prefix stripping (for registries whose street
        names themselves end in 镇, 区, ...).
    prefix
        The administrative prefix that was stripped (``""`` if none).
    building, unit, room
        Numbers as strings without leading zeros, or None when not given.
    floor
        A floor word (5楼 / 5层) if one was given; not used for matching.
    form
        Which pattern matched (``"full"``, ``"dash3"``, ...), or ``"unparsed"``.
    ignored
        Text after the address that was left out (a name or phone number pasted
        with it), ``""`` if none.
    """

    raw: str
    normalised: str
    street: str
    street_full: str
    prefix: str
    building: str | None
    unit: str | None
    room: str | None
    floor: str | None = None
    form: str = "unparsed"
    ignored: str = ""

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None]:
        """(street, building, unit, room): the registry key."""
        return (self.street, self.building, self.unit, self.room)

    @property
    def parsed(self) -> bool:
        """True when a building number was found."""
        return self.building is not None

    def canonical(self) -> str:
        """The address written in the registry's canonical form."""
        return format_address(self.street, self.building, self.unit, self.room) or self.normalised

    def to_dict(self) -> dict:
        return {
            "street": self.street,
            "building": self.building,
            "unit": self.unit,
            "room": self.room,
            "floor": self.floor,
            "prefix": self.prefix,
            "form": self.form,
            "normalised": self.normalised,
            "ignored": self.ignored,
        }


def format_address(
    street: str, building: str | None, unit: str | None = None, room: str | None = None
) -> str:
    """Write parts back in the canonical form ``街3号楼2单元501室``."""
    if building is None:
        return street
    text = f"{street}{building}号楼"
    if unit is not None:
        text += f"{unit}单元"
    if room is not None:
        text += f"{room}室"
    return text


def cn_numeral_to_digits(text: str) -> str:
    """Turn a run of Chinese numerals into Arabic digits.

    Digit-by-digit runs are read as written (``五零一`` -> ``501``,
    ``幺零二`` -> ``102``); runs with 十/百/千 are read as a number
    (``十二`` -> ``12``, ``二十一`` -> ``21``, ``一百零一`` -> ``101``).
    Characters that are not numerals are returned unchanged.
    """
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in text):
        return text
    if not any(ch in _CN_UNITS for ch in text):
        return "".join(str(_CN_DIGITS[ch]) for ch in text)
    total = 0
    current = 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        else:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
    return str(total + current)


def _parsed(
    raw: str,
    norm: str,
    street_full: str,
    protected: Collection[str],
    parts: Mapping[str, str | None],
    form: str,
    floor: str | None = None,
) -> ParsedAddress:
    """A ParsedAddress from a street and the building/unit/room groups ``b``/``u``/``r``."""
    prefix, street = strip_admin_prefix(street_full, protected, street_only=True)
    return ParsedAddress(
        raw=raw,
        normalised=norm,
        street=street,
        street_full=street_full,
        prefix=prefix,
        building=_strip_zeros(parts.get("b")),
        unit=_strip_zeros(parts.get("u")),
        room=_strip_zeros(parts.get("r")),
        floor=floor,
        form=form,
    )


def _strip_zeros(value: str | None) -> str | None:
    """``03`` -> ``3``, ``0501`` -> ``501``, ``05A`` -> ``5A``, ``B01`` -> ``B1``; letters kept."""
    if value is None:
        return None
    m = _ZEROS_RE.fullmatch(value)
    return m.group(1) + m.group(2) + m.group(3) if m else value


def _as_text(value: object) -> str:
    if value is None:
        raise AddressError("the address is empty")
    if isinstance(value, float) and math.isnan(value):
        raise AddressError("the address is empty")
    if not isinstance(value, str):
        try:
            import pandas as pd

            if pd.isna(value):
                raise AddressError("the address is empty")
        except (TypeError, ValueError):
            pass
        if isinstance(value, (bytes, bytearray)):
            raise AddressError("the address must be text, not bytes (decode it first)")
        value = str(value)
    if not value.strip():
        raise AddressError("the address is empty")
    return value


def normalise_text(text: object) -> str:
    """Fold an address to the canonical spelling used for matching.

    Steps: NFKC (full-width digits/letters), upper case, remarks in brackets
    removed, spaces and punctuation removed, dashes unified, Chinese numerals
    before an address word turned into digits, building synonyms
    (号楼/栋/幢/座/#/号) -> ``号楼``, unit synonyms (单元/门/U) -> ``单元``,
    room words (室/房/户/号 after a unit) -> ``室``.

    Raises
    ------
    AddressError
        When the input is empty or not text.
    """
    s = unicodedata.normalize("NFKC", fold_characters(_as_text(text))).upper()
    s = s.translate(_DASHES)
    s = _LEADING_BRACKET_RE.sub(r"\1", s)
    s = _BRACKETS_RE.sub("", s)
    s = _KEEP_RE.sub("", s)
    s = s.replace("第", "") if _ORDINAL_RE.search(s) else s
    s = _CN_NUMBER_RE.sub(lambda m: cn_numeral_to_digits(m.group(0)), s)
    s = _MULTI_DASH_RE.sub("-", s).strip("-")
    # building synonyms
    s = _BUILDING_SYN_RE.sub(r"\1号楼", s)
    # unit synonyms: 2单元, 2门, 2U, U2
    s = _UNIT_SHORT_RE.sub(r"\1单元", s)
    s = _UNIT_SYN_RE.sub(r"\1单元", s)
    s = _UNIT_PREFIX_RE.sub(r"\1单元", s)
    # room words: 501房, 501户, 501号 after a unit or dash
    s = _ROOM_SYN_RE.sub(r"\1室", s)
    s = _ROOM_HAO_RE.sub(r"\1\2室", s)
    # a bare 号 followed by more address (or nothing) is the building number
    s = _BARE_HAO_RE.sub(r"\1号楼", s)
    s = _WORD_DASH_RE.sub(r"\1", s)
    return s


def strip_admin_prefix(
    text: str, protected: Collection[str] = (), *, min_street: int = 2, street_only: bool = False
) -> tuple[str, str]:
    """Remove a leading province/city/district/town/street-office prefix.

    A component ending in one of :data:`ADMIN_SUFFIXES` is removed only when
    more address follows it (at least ``min_street`` characters of street
    before the building number), so ``锦绣小区3号楼`` keeps its compound name.
    Nothing is rewritten (乐昌镇 stays 乐昌镇, it is never read as 乐昌市), and
    stripping stops as soon as the rest starts with one of the ``protected``
    names (the registry's own street names).

    With ``street_only`` the text is a street part alone (the building
    number already split off), so the whole remainder counts as street.

    Returns
    -------
    (prefix, rest)
    """
    prefix = ""
    rest = text
    for _ in range(8):
        if any(rest.startswith(p) for p in protected if p):
            break
        m = _ADMIN_RE.match(rest)
        if not m:
            break
        name, suffix = m.group(1), m.group(2)
        if len(name) < 2 and suffix not in ("县", "旗"):
            # try a longer name (e.g. 城市花园 must not lose 城市)
            m2 = _ADMIN2_RE.match(rest)
            if not m2:
                break
            name, suffix = m2.group(1), m2.group(2)
        component = name + suffix
        if component.endswith(_COMPOUND_AREAS):
            break  # 阳光小区, 科技园区: a compound, not a district
        remainder = rest[len(component) :]
        street_len = len(remainder) if street_only else _street_length(remainder)
        if street_len < min_street:
            break
        if any(component.endswith(p) or p.startswith(component) for p in protected if p):
            break
        prefix += component
        rest = remainder
    return prefix, rest


#: ``建设路88号阳光小区``: a road, its door number (号, Shanghai's 弄) and the compound behind it.
_ROAD_NUMBER_RE = re.compile(
    r"^(?P<road>.{1,12}?(?:路|街|道|巷|弄|胡同))(?P<no>\d+[A-Z]?(?:-\d+)?)(?:号|弄)(?P<compound>\D.+)$"
)


def split_road_number(street: str) -> tuple[str, str, str] | None:
    """Split ``建设路88号阳光小区`` into (road, door number, compound).

    Residents often name only the compound (``阳光小区3-2-501``) where a ledger
    writes the road and door number before it, or the other way round. Returns
    None when ``street`` has no road-and-number prefix or the compound part is
    shorter than two characters (``建设路88号院`` is one compound, not two).
    """
    m = _ROAD_NUMBER_RE.match(street or "")
    if m is None:
        return None
    return m.group("road"), m.group("no"), m.group("compound")


def _street_length(text: str) -> int:
    """Characters before the first digit or building letter (the street part)."""
    m = _STREET_END_RE.search(text)
    return m.start() if m else len(text)


_RAW_PHONE_RE = re.compile(r"^(.*?\S)\s+((?:\+?86)?1[3-9]\d{9})\s*$")
_AFTER_ROOM_RE = re.compile(r"^(.*?\d[A-Z]?室)(\D.*)$")
_TRAILING_PHONE_RE = re.compile(r"^(.*?\d[A-Z]?室?)(\D*1[3-9]\d{9})$")


def _match_patterns(raw: str, norm: str, protected: Collection[str]) -> ParsedAddress | None:
    """The first address pattern matching ``norm``, parsed; None if none matches."""
    for form, pattern in _PATTERNS:
        m = pattern.match(norm)
        if m is None:
            continue
        gd = m.groupdict()
        return _parsed(
            raw,
            norm,
            gd["street"],
            protected,
            gd,
            form,
            floor=_strip_zeros(gd.get("f")),
        )
    return None


_TOKEN_RE = re.compile(rf"(?P<b>{_BUILDING})号楼|(?P<u>\d+|[A-Z])单元|(?P<r>{_ROOM})室")
_ROOM_ONLY_RE = re.compile(_ROOM)
_MARKER_IN_STREET_RE = re.compile(r"\d(?:单元|室)")


def _reordered(raw: str, norm: str, protected: Collection[str]) -> ParsedAddress | None:
    """Parse an address whose parts come in another order.

    ``西南街2单元3号楼501`` (unit before building), ``501室3号楼2单元西南街`` or
    ``2号楼4单元301室 向阳街`` (the street after the flat). Only when every part
    carries its word (号楼, 单元, 室; a bare trailing number is the room) and
    each appears once, so the reading is unambiguous. None otherwise, or when
    the parts are already in the usual order.
    """
    parts: dict[str, str] = {}
    order: list[str] = []
    rest: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(norm):
        kind = m.lastgroup or ""
        if kind in parts:
            return None
        parts[kind] = m.group(kind)
        order.append(kind)
        rest.append(norm[pos : m.start()])
        pos = m.end()
    rest.append(norm[pos:])
    if "b" not in parts:
        return None
    frags = [f for f in rest if f]
    if "r" not in parts and frags and frags[-1] == rest[-1] and _ROOM_ONLY_RE.fullmatch(frags[-1]):
        parts["r"] = frags.pop()
        order.append("r")
    if len(frags) > 1 or any(ch.isdigit() or ch == "-" for f in frags for ch in f):
        return None
    street_full = frags[0] if frags else ""
    street_first = not street_full or rest[0] == street_full
    if street_first and order == sorted(order, key="bur".index):
        return None
    return _parsed(
        raw,
        norm,
        street_full,
        protected,
        parts,
        "street-after" if not street_first else "reordered",
    )


def parse_address(text: object, protected: Collection[str] = ()) -> ParsedAddress:
    """Normalise and split an address into street, building, unit and room.

    Parameters
    ----------
    text
        The address as written.
    protected
        Street names known to the registry: never stripped as an
        administrative prefix.

    Returns
    -------
    ParsedAddress
        ``building`` is None when no building number was recognised (the
        whole text is then the street part).

    Raises
    ------
    AddressError
        When the input is empty or not text.
    """
    raw = _as_text(text)
    norm = normalise_text(raw)
    if not norm:
        raise AddressError(f"the address '{raw[:40]}' holds no letters or digits")
    m = _RAW_PHONE_RE.match(raw)
    if m:  # a phone number after a space would otherwise run into the room number
        found = _match_patterns(raw, normalise_text(m.group(1)), protected)
        if found is not None:
            return replace(found, ignored=m.group(2))
    found = _match_patterns(raw, norm, protected)
    if found is None or _MARKER_IN_STREET_RE.search(found.street_full):
        moved = _reordered(raw, norm, protected)
        if moved is not None:
            return moved
    if found is not None:
        return found
    # a pasted work order: the address, then a name or a phone number
    # (西南街3号楼2单元501 王大妈 13912345678, 西南街3号楼2单元501室王大妈)
    tokens = raw.split()
    heads = [(" ".join(tokens[:k]), " ".join(tokens[k:])) for k in range(len(tokens) - 1, 0, -1)]
    m = _AFTER_ROOM_RE.match(norm)
    if m:
        heads.append((m.group(1), m.group(2)))
    m = _TRAILING_PHONE_RE.match(norm)
    if m:
        heads.append((m.group(1), m.group(2)))
    for head, rest in heads:
        head_norm = normalise_text(head) if head.strip() else ""
        found = _match_patterns(raw, head_norm, protected) if head_norm else None
        if found is not None:
            return replace(found, ignored=rest.strip())
    prefix, street = strip_admin_prefix(norm, protected)
    return ParsedAddress(
        raw=raw,
        normalised=norm,
        street=street,
        street_full=norm,
        prefix=prefix,
        building=None,
        unit=None,
        room=None,
        form="unparsed",
    )
