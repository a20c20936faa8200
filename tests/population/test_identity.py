"""Unit tests for population.identity (GB 11643-1999 citizen identity numbers).

Pure functions only: no database. Every call whose result depends on the current date
passes ``today=`` explicitly.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from population.identity import (
    FEMALE,
    MALE,
    CitizenId,
    InvalidCitizenId,
    build_citizen_id,
    check_digit,
    known_county_codes,
    mask_citizen_id,
    parse_citizen_id,
)

TODAY = dt.date(2024, 6, 15)
KNOWN = "11010519491231002X"  # Beijing Chaoyang, 1949-12-31, female, check X

_FULL_WIDTH = str.maketrans({**{str(d): chr(0xFF10 + d) for d in range(10)}, "X": "\uff38"})

SAMPLE_ADDRESS_CODES = ["441802", "441803", "441821", "530902", "110105", "810000"]


def to_full_width(number: str) -> str:
    return number.translate(_FULL_WIDTH)


def with_check(first17: str) -> str:
    return first17 + check_digit(first17)


def parse_error(text: str, today: dt.date = TODAY) -> InvalidCitizenId:
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(text, today=today)
    return excinfo.value


# --- Known-good example -------------------------------------------------------------------


def test_known_good_number_exposes_every_property():
    # given a real-format number from Beijing Chaoyang
    # when it is parsed
    cid = parse_citizen_id(KNOWN, today=TODAY)

    # then every property is exact
    assert isinstance(cid, CitizenId)
    assert str(cid) == "11010519491231002X"
    assert cid.number == "11010519491231002X"
    assert cid.address_code == "110105"
    assert cid.province_code == "11"
    assert cid.birth_date == dt.date(1949, 12, 31)
    assert cid.sequence == "002"
    assert cid.sex == FEMALE == 2
    assert cid.check_digit == "X"
    assert cid.masked == "110105********002X"
    assert cid.converted_from_15 is False
    assert cid.warnings == ()


def test_check_digit_of_known_number_is_x():
    assert check_digit("11010519491231002") == "X"


def test_odd_sequence_digit_is_male():
    cid = parse_citizen_id(build_citizen_id("110105", dt.date(1980, 5, 6), 1), today=TODAY)
    assert cid.sequence == "001"
    assert cid.sex == MALE == 1


# --- Normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002x",
        "  11010519491231002X  ",
        "\t11010519491231002X\n",
        "\r\n 11010519491231002x \t",
        to_full_width(KNOWN),
        to_full_width(KNOWN)[:-1] + "\uff58",  # full-width lowercase ｘ
        "\u3000" + to_full_width(KNOWN) + "\u3000",  # ideographic spaces around
        to_full_width(KNOWN[:9]) + KNOWN[9:],  # mixed widths
    ],
)
def test_variants_normalise_to_the_same_number(text):
    # given a variant an officer might type
    # when it is parsed
    cid = parse_citizen_id(text, today=TODAY)
    # then it is the canonical 18-character number
    assert str(cid) == KNOWN
    assert cid.converted_from_15 is False


def test_full_width_characters_are_the_expected_code_points():
    assert to_full_width(KNOWN) == (
        "\uff11\uff11\uff10\uff11\uff10\uff15\uff11\uff19\uff14\uff19"
        "\uff11\uff12\uff13\uff11\uff10\uff10\uff12\uff38"
    )


@pytest.mark.parametrize("text", ["110105 19491231002X", "11010519491231002 X"])
def test_space_inserted_into_a_full_number_fails_on_length_first(text):
    # 19 characters after trimming: length is checked before characters
    assert parse_error(text).part == "length"


@pytest.mark.parametrize("position", [1, 6, 10, 16])
def test_internal_space_in_18_characters_is_a_characters_error(position):
    # given an 18-character text where one digit is replaced by a space
    text = KNOWN[:position] + " " + KNOWN[position + 1 :]
    assert len(text) == 18
    # when parsed, then the characters part fails
    err = parse_error(text)
    assert err.part == "characters"
    assert "数字" in err.message_zh
    assert "17 digits" in err.message_en


@pytest.mark.parametrize("bad", ["A", "-", "/", "Y", "\u00b7"])
def test_non_digit_in_first_17_is_a_characters_error(bad):
    err = parse_error(bad + KNOWN[1:])
    assert err.part == "characters"


def test_x_anywhere_but_last_is_a_characters_error():
    err = parse_error("X" + KNOWN[1:])
    assert err.part == "characters"


def test_non_string_is_a_characters_error():
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(11010519491231002, today=TODAY)  # type: ignore[arg-type]
    assert excinfo.value.part == "characters"


# --- Legacy 15-digit numbers --------------------------------------------------------------


def test_legacy_15_digit_number_is_converted():
    # given a legacy 15-digit number (century omitted, no check digit)
    # when parsed
    cid = parse_citizen_id("110105491231002", today=TODAY)
    # then it becomes the 18-character equivalent
    assert str(cid) == "11010519491231002X"
    assert cid.converted_from_15 is True
    assert cid.birth_date == dt.date(1949, 12, 31)
    assert cid.sex == FEMALE
    assert cid.warnings == ()


def test_legacy_and_modern_forms_of_one_number_are_one_id():
    legacy = parse_citizen_id(" 110105491231002 ", today=TODAY)
    modern = parse_citizen_id(KNOWN, today=TODAY)
    assert str(legacy) == str(modern)
    assert legacy.number == modern.number
    # the flag tells how it was typed; the identity is the number
    assert (legacy.converted_from_15, modern.converted_from_15) == (True, False)
    assert legacy == modern
    assert hash(legacy) == hash(modern)


@pytest.mark.parametrize("text", ["11010549123100X", "1101054912310a2", "11010549123100x"])
def test_legacy_15_with_a_letter_is_a_characters_error(text):
    err = parse_error(text)
    assert err.part == "characters"


def test_legacy_15_with_bad_date_is_a_birth_date_error():
    err = parse_error("110105491331002")
    assert err.part == "birth_date"


# --- Length -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 14, 16, 17, 19])
def test_wrong_length_is_rejected_with_bilingual_message(length):
    # given a digit string of the wrong length
    text = ("11010519491231002X0" * 2)[:length]
    assert len(text) == length
    # when parsed
    err = parse_error(text)
    # then the length part fails, in Chinese and English
    assert err.part == "length"
    assert isinstance(err, ValueError)
    assert "位" in str(err)
    assert "characters" in str(err)
    assert f"{length}位" in err.message_zh
    assert f"got {length}" in err.message_en
    assert str(err) == f"{err.message_zh} / {err.message_en}"


def test_whitespace_only_is_a_length_error():
    assert parse_error(" \t\n ").part == "length"


# --- Address code -------------------------------------------------------------------------


@pytest.mark.parametrize("province", ["00", "99", "10", "84", "20", "39", "47", "55", "60", "70"])
def test_unknown_province_is_an_address_code_error(province):
    # given an otherwise valid number with a province that does not exist
    number = build_citizen_id(province + "0000", dt.date(1990, 1, 1), 123)
    # when parsed, then the address code fails (before the check digit is looked at)
    err = parse_error(number)
    assert err.part == "address_code"
    assert province in err.message_zh
    assert province in err.message_en


@pytest.mark.parametrize("address_code", ["710000", "810000", "820000", "830000"])
def test_taiwan_hong_kong_macao_and_residence_permit_codes_are_accepted(address_code):
    number = build_citizen_id(address_code, dt.date(1990, 1, 1), 123)
    cid = parse_citizen_id(number, today=TODAY)
    assert str(cid) == number
    assert cid.province_code == address_code[:2]
    assert cid.warnings == ()


def test_unknown_county_in_known_province_is_accepted_with_one_warning():
    # given a county code no GB/T 2260 edition had, in a real province
    assert "441899" not in known_county_codes()
    number = build_citizen_id("441899", dt.date(1990, 1, 1), 123)
    # when parsed
    cid = parse_citizen_id(number, today=TODAY)
    # then it is accepted, with exactly one warning naming the code
    assert str(cid) == number
    assert len(cid.warnings) == 1
    assert "441899" in cid.warnings[0]


@pytest.mark.parametrize("address_code", ["533521", "440102"])
def test_retired_real_county_codes_are_accepted_without_warning(address_code):
    # 533521 临沧县 (before 2003), 440102 东山区 (Guangzhou, merged 2005)
    assert address_code in known_county_codes()
    number = build_citizen_id(address_code, dt.date(1985, 7, 20), 45)
    cid = parse_citizen_id(number, today=TODAY)
    assert str(cid) == number
    assert cid.warnings == ()


def test_known_county_codes_contents():
    codes = known_county_codes()
    assert isinstance(codes, frozenset)
    assert {
        "110105",
        "441802",
        "530902",
        "440000",
        "710000",
        "810000",
        "820000",
        "830000",
    } <= codes
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert known_county_codes() is codes  # cached


# --- Birth date ---------------------------------------------------------------------------


@pytest.mark.parametrize("born", [dt.date(2000, 2, 29), dt.date(1996, 2, 29), dt.date(1850, 1, 1)])
def test_valid_edge_birth_dates_are_accepted(born):
    number = build_citizen_id("110105", born, 10)
    assert parse_citizen_id(number, today=TODAY).birth_date == born


@pytest.mark.parametrize(
    "date_code",
    [
        "19000229",
        "20230229",
        "19901301",
        "19900001",
        "19900100",
        "19900132",
        "19900431",
        "00000101",
    ],
)
def test_impossible_dates_are_birth_date_errors(date_code):
    # given a number whose check digit is right but whose date is not a real date
    number = with_check("110105" + date_code + "123")
    # when parsed, then the birth date fails and the message quotes the date code
    err = parse_error(number)
    assert err.part == "birth_date"
    assert date_code in str(err)


def test_birth_date_after_today_is_rejected():
    today = dt.date(2020, 5, 17)
    number = build_citizen_id("110105", today + dt.timedelta(days=1), 123)
    err = parse_error(number, today=today)
    assert err.part == "birth_date"
    assert "2020-05-18" in str(err)


def test_birth_date_equal_to_today_is_accepted():
    today = dt.date(2020, 5, 17)
    number = build_citizen_id("110105", today, 123)
    assert parse_citizen_id(number, today=today).birth_date == today


def test_today_changes_the_verdict_deterministically():
    number = build_citizen_id("110105", dt.date(2030, 1, 1), 1)
    assert parse_error(number, today=dt.date(2029, 12, 31)).part == "birth_date"
    assert parse_citizen_id(number, today=dt.date(2030, 1, 1)).birth_date == dt.date(2030, 1, 1)


@pytest.mark.parametrize("born", [dt.date(1849, 12, 31), dt.date(1800, 6, 1), dt.date(1000, 1, 1)])
def test_birth_date_before_1850_is_rejected(born):
    number = build_citizen_id("110105", born, 123)
    err = parse_error(number)
    assert err.part == "birth_date"
    assert "1850" in str(err)


# --- Check digit --------------------------------------------------------------------------


@pytest.mark.parametrize("position", range(17))
def test_each_digit_changed_by_one_is_rejected(position):
    # given the known-good number with one of the first 17 digits changed by +1 (mod 10)
    changed = str((int(KNOWN[position]) + 1) % 10)
    tampered = KNOWN[:position] + changed + KNOWN[position + 1 :]
    # when parsed
    err = parse_error(tampered)
    # then it is rejected; outside the province and date parts, by the check digit
    if position < 2 or 6 <= position < 14:
        assert err.part in {"address_code", "birth_date", "check_digit"}
    else:
        assert err.part == "check_digit"


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != "X"])
def test_wrong_last_character_names_the_expected_one(wrong):
    err = parse_error(KNOWN[:17] + wrong)
    assert err.part == "check_digit"
    assert "应为X" in err.message_zh
    assert f"实际为{wrong}" in err.message_zh
    assert f"expected X, got {wrong}" in err.message_en


def test_wrong_numeric_check_digit_message():
    number = build_citizen_id("441802", dt.date(1990, 1, 1), 123)
    expected = number[-1]
    wrong = "X" if expected != "X" else "0"
    err = parse_error(number[:17] + wrong)
    assert err.part == "check_digit"
    assert f"expected {expected}" in str(err)


@pytest.mark.parametrize(
    "first17, expected",
    [
        ("11010519491231002", "X"),
        ("44052418800101001", "4"),
        ("00000000000000000", "1"),
    ],
)
def test_check_digit_known_values(first17, expected):
    assert check_digit(first17) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1101051949123100",
        "110105194912310021",
        "1101051949123100X",
        "1101051949 231002",
        "abcdefghijklmnopq",
    ],
)
def test_check_digit_rejects_non_17_digit_input(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


def test_check_digit_error_is_not_an_invalid_citizen_id():
    with pytest.raises(ValueError) as excinfo:
        check_digit("123")
    assert not isinstance(excinfo.value, InvalidCitizenId)


# --- Masking and building -----------------------------------------------------------------


def test_mask_shows_first_six_and_last_four():
    assert mask_citizen_id("44180219900101123X") == "441802********123X"


@pytest.mark.parametrize(
    "text", ["", "1", "44180219900101123", "44180219900101123X0", "110105491231002"]
)
def test_mask_of_wrong_length_reveals_nothing(text):
    assert mask_citizen_id(text) == "*" * len(text)


@pytest.mark.parametrize("sequence", [-1, 1000])
def test_build_rejects_out_of_range_sequence(sequence):
    with pytest.raises(ValueError):
        build_citizen_id("110105", dt.date(1990, 1, 1), sequence)


def test_build_pads_sequence_and_appends_check_digit():
    assert build_citizen_id("110105", dt.date(1949, 12, 31), 2) == KNOWN


# --- Property tests -----------------------------------------------------------------------

address_codes = st.sampled_from(SAMPLE_ADDRESS_CODES)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31))
sequences = st.integers(min_value=0, max_value=999)
valid_numbers = st.builds(build_citizen_id, address_codes, birth_dates, sequences)


@settings(max_examples=200)
@given(address_code=address_codes, born=birth_dates, sequence=sequences)
def test_build_then_parse_round_trips(address_code, born, sequence):
    number = build_citizen_id(address_code, born, sequence)
    cid = parse_citizen_id(number, today=TODAY)
    assert str(cid) == number
    assert len(number) == 18
    assert cid.address_code == address_code
    assert cid.province_code == address_code[:2]
    assert cid.birth_date == born
    assert cid.sequence == f"{sequence:03d}"
    assert cid.sex == (MALE if sequence % 2 else FEMALE)
    assert cid.check_digit == check_digit(number[:17])
    assert cid.converted_from_15 is False
    assert cid.warnings == ()
    assert cid.masked == number[:6] + "********" + number[-4:]


@settings(max_examples=100)
@given(number=valid_numbers, pad_left=st.sampled_from(["", " ", "\t", "\n", " \t\n"]))
def test_lowercase_and_full_width_variants_parse_to_the_same_number(number, pad_left):
    variants = [
        number.lower(),
        to_full_width(number),
        to_full_width(number).lower(),
        pad_left + number + pad_left[::-1],
    ]
    for text in variants:
        assert str(parse_citizen_id(text, today=TODAY)) == number


@settings(max_examples=200)
@given(number=valid_numbers, position=st.integers(0, 16), delta=st.integers(1, 9))
def test_any_single_digit_substitution_is_rejected(number, position, delta):
    changed = str((int(number[position]) + delta) % 10)
    tampered = number[:position] + changed + number[position + 1 :]
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(tampered, today=TODAY)
    if 2 <= position < 6 or 14 <= position < 17:
        assert excinfo.value.part == "check_digit"


@settings(max_examples=200)
@given(number=valid_numbers, position=st.integers(0, 15))
def test_any_adjacent_transposition_of_different_digits_is_rejected(number, position):
    a, b = number[position], number[position + 1]
    if a == b:
        # force two different digits by rebuilding the pair, keeping the number valid
        b = str((int(a) + 1) % 10)
        first17 = number[: position + 1] + b + number[position + 2 : 17]
        number = with_check(first17)
        try:
            parse_citizen_id(number, today=TODAY)
        except InvalidCitizenId:
            return  # the rebuilt pair made the date or province invalid; nothing to test
    swapped = number[:position] + b + a + number[position + 2 :]
    assert swapped != number
    with pytest.raises(InvalidCitizenId):
        parse_citizen_id(swapped, today=TODAY)


@settings(max_examples=200)
@given(text=st.text())
def test_arbitrary_text_is_rejected_cleanly_or_round_trips(text):
    try:
        cid = parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId as err:
        assert err.part in {
            "length",
            "characters",
            "address_code",
            "birth_date",
            "check_digit",
        }
        return
    assert len(str(cid)) == 18
    assert parse_citizen_id(str(cid), today=TODAY) == cid


@settings(max_examples=200)
@given(
    text=st.text(
        alphabet="0123456789Xx \uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
        min_size=14,
        max_size=20,
    )
)
def test_digit_like_text_is_rejected_cleanly_or_round_trips(text):
    try:
        cid = parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId as err:
        assert err.part in {
            "length",
            "characters",
            "address_code",
            "birth_date",
            "check_digit",
        }
        return
    assert len(str(cid)) == 18
    assert parse_citizen_id(str(cid), today=TODAY) == cid


# --- Non-ASCII digits ------------------------------------------------------------------


def test_non_ascii_decimal_digits_are_not_accepted_unnormalised():
    arabic_indic = "11" + "".join(chr(0x0660 + int(c)) for c in KNOWN[2:17]) + "X"
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(arabic_indic, today=TODAY)
    assert excinfo.value.part == "characters"


# -- the fast path for already-normalised numbers agrees with the full parse -------------------


def _full_parse(text):
    """The full parse without the fast path (normalise, check, name the failing part)."""
    from population.identity import _parse_citizen_id

    try:
        cid = _parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId as exc:
        return ("refused", exc.part)
    return ("valid", cid.number, cid.warnings)


def _parse(text):
    try:
        cid = parse_citizen_id(text, today=TODAY)
    except InvalidCitizenId as exc:
        return ("refused", exc.part)
    return ("valid", cid.number, cid.warnings)


# Near-valid numbers: one character replaced by anything an attacker or a typo could send.
near_valid = st.builds(
    lambda number, position, char: number[:position] + char + number[position + 1 :],
    valid_numbers,
    st.integers(0, 17),
    st.sampled_from([*"0123456789Xx ", "\x00", "٣", "３", "\u00b2", "é"]),
)


@settings(max_examples=500)
@given(text=st.one_of(valid_numbers, near_valid, st.text(max_size=20)))
def test_the_fast_path_answers_exactly_as_the_full_parse(text):
    from population.identity import citizen_id_number, citizen_id_number_fast

    expected = _full_parse(text)
    assert _parse(text) == expected
    if expected[0] == "valid":
        assert citizen_id_number(text, today=TODAY) == expected[1]
    else:
        with pytest.raises(InvalidCitizenId):
            citizen_id_number(text, today=TODAY)
    fast = citizen_id_number_fast(text, today=TODAY)
    assert fast is None or (fast == text and expected[0] == "valid")


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("11010519491231002\x00", "characters"),  # NUL as the check character
        ("\x0011010519491231002X"[:18], "characters"),
        ("11010519491231002x", None),  # lowercase x: normalised, valid
        ("990105194912310020", "address_code"),
        ("110105194902300027", "birth_date"),  # 30 February
        ("110105184912310021", "birth_date"),  # before 1850
        ("110105194912310021", "check_digit"),
        ("11010519491231002٣", "characters"),  # Arabic-Indic digit three
    ],
)
def test_refusals_on_18_characters_are_named_as_before(text, part):
    if part is None:
        assert parse_citizen_id(text, today=TODAY).number == text.upper()
        return
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(text, today=TODAY)
    assert excinfo.value.part == part


def test_a_birth_date_of_today_and_tomorrow_on_the_fast_path():
    from population.identity import citizen_id_number_fast

    today = build_citizen_id("110105", TODAY, 2)
    tomorrow = build_citizen_id("110105", TODAY + dt.timedelta(days=1), 2)
    assert citizen_id_number_fast(today, today=TODAY) == today
    assert citizen_id_number_fast(tomorrow, today=TODAY) is None
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(tomorrow, today=TODAY)
    assert excinfo.value.part == "birth_date"
