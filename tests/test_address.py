"""Address normalisation and parsing (gridmap.lookup.address)."""

from __future__ import annotations

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.errors import AddressError, GridmapError
from gridmap.lookup.address import (
    cn_numeral_to_digits,
    format_address,
    normalise_text,
    parse_address,
    strip_admin_prefix,
)

KEY = ("西南街", "3", "2", "501")


@pytest.mark.parametrize(
    "text",
    [
        "西南街3号楼2单元501室",
        "西南街3号楼2单元501",
        "西南街３号楼２单元５０１室",  # full-width digits
        "西南街三号楼二单元五零一",  # Chinese numerals, digit by digit
        "西南街三号楼二单元五百零一室",  # Chinese numerals, positional
        "西南街3栋2单元501",
        "西南街3幢2门501",
        "西南街3座2单元501房",
        "西南街3#2U501",
        "西南街3号2单元501户",
        "西南街3号楼2单元501号房",
        "西南街3-2-501",
        "西南街3—2—501",  # em dashes
        "西南街３－２－５０１",  # full-width dash form
        "西南街3号楼2-501",
        " 西南街 3号楼，2单元 501室。",
        "西南街3号楼2单元5楼501",
        "西南街3号楼2单元五层501室",
        "西南街03号楼02单元0501室",
        "山西省临汾市尧都区西南街3号楼2单元501室",
        "临汾市尧都区西南街3号楼2单元501",
        "尧都区西南街3-2-501",
        "西南街3号楼2单元501室(东门)",
        "西南街第3号楼第2单元501",
    ],
)
def test_variants_parse_to_the_same_key(text: str) -> None:
    assert parse_address(text).key == KEY


def test_chinese_numerals() -> None:
    assert cn_numeral_to_digits("十二") == "12"
    assert cn_numeral_to_digits("二十") == "20"
    assert cn_numeral_to_digits("二十一") == "21"
    assert cn_numeral_to_digits("一百零一") == "101"
    assert cn_numeral_to_digits("五零一") == "501"
    assert cn_numeral_to_digits("幺零二") == "102"
    assert cn_numeral_to_digits("两百") == "200"
    assert cn_numeral_to_digits("路") == "路"
    assert parse_address("西南街十二号楼十单元一千零一").key == ("西南街", "12", "10", "1001")


def test_numerals_in_street_names_stay() -> None:
    # 五一路 / 三里屯 / 八一街 are names, not numbers
    assert parse_address("五一路3号楼2单元501").street == "五一路"
    assert parse_address("三里屯三号楼二单元五零一").key == ("三里屯", "3", "2", "501")
    assert parse_address("八一街2栋1单元101").key == ("八一街", "2", "1", "101")


def test_partial_addresses() -> None:
    assert parse_address("西南街3号楼2单元").key == ("西南街", "3", "2", None)
    assert parse_address("西南街3号楼").key == ("西南街", "3", None, None)
    assert parse_address("西南街3-501").key == ("西南街", "3", None, "501")
    assert parse_address("3号楼2单元501").key == ("", "3", "2", "501")
    p = parse_address("村委会旁边平房")
    assert p.building is None and not p.parsed and p.form == "unparsed"


def test_letters_and_compounds() -> None:
    assert parse_address("锦绣花园A座1单元1201").key == ("锦绣花园", "A", "1", "1201")
    assert parse_address("迎宾路108号院3号楼2单元501").key == ("迎宾路108号院", "3", "2", "501")
    assert parse_address("西南街3号楼2单元501号").key == KEY


def test_admin_prefix_is_stripped_only_before_more_address() -> None:
    p = parse_address("山西省临汾市尧都区西南街3号楼2单元501")
    assert p.prefix == "山西省临汾市尧都区"
    # a compound ending in 区 is not a district when nothing follows it
    assert parse_address("锦绣小区3号楼1单元101").street == "锦绣小区"
    assert parse_address("尧都区锦绣小区3号楼1单元101").street == "锦绣小区"
    # a compound ending in 小区/园区 is kept even when more follows
    assert parse_address("阳光小区二期3号楼1单元101").street == "阳光小区二期"
    assert parse_address("临汾市阳光小区二期3号楼1单元101").street == "阳光小区二期"
    assert parse_address("高新科技园区B座1单元101").street == "高新科技园区"
    # 城市花园 does not lose 城市
    assert parse_address("城市花园1号楼1单元101").street == "城市花园"
    # a town is stripped, never rewritten (乐昌镇 does not become 乐昌市)
    p = parse_address("韶关市乐昌镇中心街12号楼1单元101")
    assert p.prefix == "韶关市乐昌镇" and p.street == "中心街"
    assert "乐昌市" not in p.normalised


def test_registry_street_names_are_protected() -> None:
    protected = {"乐昌镇中心街"}
    p = parse_address("乐昌镇中心街12号楼1单元101", protected)
    assert p.street == "乐昌镇中心街" and p.prefix == ""
    p = parse_address("广东省韶关市乐昌镇中心街12号楼1单元101", protected)
    assert p.street == "乐昌镇中心街" and p.prefix == "广东省韶关市"
    assert strip_admin_prefix("新城区西街", {"新城区西街"}, street_only=True) == ("", "新城区西街")


def test_canonical_round_trip() -> None:
    p = parse_address("西南街三栋二门五零一")
    assert p.canonical() == "西南街3号楼2单元501室"
    assert format_address("西南街", "3") == "西南街3号楼"
    assert parse_address(p.canonical()).key == p.key


@pytest.mark.parametrize("bad", [None, "", "   ", "，。、", float("nan"), b"bytes"])
def test_empty_or_non_text_raises_address_error(bad) -> None:
    with pytest.raises(AddressError):
        parse_address(bad)


def test_normalise_full_width_letters() -> None:
    assert normalise_text("ＡＢＣ小区１号楼") == "ABC小区1号楼"


_ADDRESS_ALPHABET = st.sampled_from(
    list(
        "西南街路大道号楼栋幢座单元门室房户层省市区县镇乡街道社区-#—－ 　0123456789０１２３"
        "一二三四五六七八九十百千零两幺ABCUabc（）()【】,，.。"
    )
)


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(st.text())
def test_normaliser_never_raises_other_errors_on_any_text(text: str) -> None:
    try:
        p = parse_address(text)
    except GridmapError:
        return
    assert isinstance(p.street, str)
    assert p.building is None or p.building != ""


@pytest.mark.slow
@settings(max_examples=examples(400), deadline=None)
@given(st.lists(_ADDRESS_ALPHABET, max_size=30).map("".join))
def test_parser_is_total_on_address_like_text(text: str) -> None:
    try:
        p = parse_address(text)
    except GridmapError:
        return
    # parsing the canonical form again gives the same key
    if p.parsed and p.street:
        again = parse_address(p.canonical())
        assert (again.building, again.unit, again.room) == (p.building, p.unit, p.room)


def test_buildings_with_a_letter_before_the_number() -> None:
    """B1栋 / A2座 are buildings of their own, never building 1 of a street '...B'."""
    assert parse_address("阳光小区B1栋2单元501").key == ("阳光小区", "B1", "2", "501")
    assert parse_address("阳光小区b01座2-501").key == ("阳光小区", "B1", "2", "501")
    assert parse_address("阳光小区A2-1-302").key == ("阳光小区", "A2", "1", "302")
    assert parse_address("高新科技园区B座1单元101").key == ("高新科技园区", "B", "1", "101")


def test_dash_after_the_building_word() -> None:
    assert parse_address("阳光小区A栋-2-501").key == ("阳光小区", "A", "2", "501")
    assert parse_address("西南街3号楼-2-501").key == KEY
    assert parse_address("西南街3栋2单元-501").key == KEY


@pytest.mark.parametrize(
    ("text", "ignored"),
    [
        ("西南街3号楼2单元501 王大妈 13912345678", "王大妈 13912345678"),
        ("西南街3号楼2单元501 13912345678", "13912345678"),  # not room 50113912345678
        ("西南街3-2-501　+8613912345678", "+8613912345678"),
        ("西南街3号楼2单元501室王大妈", "王大妈"),
        ("西南街3号楼2单元501王大妈13912345678", "王大妈13912345678"),
    ],
)
def test_pasted_work_order_keeps_the_address_and_sets_the_rest_aside(text, ignored) -> None:
    p = parse_address(text)
    assert p.key == KEY and p.ignored == ignored
    assert parse_address("西南街3号楼2单元501室").ignored == ""


def test_letter_units() -> None:
    assert parse_address("阳光小区3栋A单元501").key == ("阳光小区", "3", "A", "501")
    assert parse_address("阳光小区3号楼b单元501室").key == ("阳光小区", "3", "B", "501")
