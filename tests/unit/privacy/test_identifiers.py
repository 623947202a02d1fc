"""Identifier checks at ingress: GB 11643 ID numbers, Luhn card numbers, mobiles and emails."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fengkong.compile.ir import FieldIR
from fengkong.privacy import PseudonymKeys, is_pseudonym, pseudonymise_record
from fengkong.privacy._identifiers import (
    id_check_character,
    identifier_ok,
    luhn_ok,
    valid_resident_id,
)

KEYS = PseudonymKeys.generate()
ID = FieldIR("applicant.id_number", "str", True, None, None, None, 18, "id_card")
PHONE = FieldIR("applicant.phone", "str", False, None, None, None, 20, "phone")
CARD = FieldIR("bank.card_no", "str", False, None, None, None, 30, "bank_card")
CARD_INT = FieldIR("bank.card_int", "int", False, 0, 10**19, None, None, "bank_card")
EMAIL = FieldIR("applicant.email", "str", False, None, None, None, 254, "email")
NAME = FieldIR("applicant.name", "str", False, None, None, None, 64, "name")
FIELDS = [ID, PHONE, CARD, CARD_INT, EMAIL, NAME]


# -- resident ID numbers (GB 11643-1999) -----------------------------------------------------

@pytest.mark.parametrize("value", [
    "11010519491231002X", "11010519491231002x", "110105199003071239", " 110105-19491231-002X",
])
def test_valid_resident_ids(value: str) -> None:
    assert identifier_ok("id_card", value)


@pytest.mark.parametrize("value", [
    "11010519900307123X",   # wrong check character
    "110105199003071234",   # wrong check character
    "110105199002301232",   # 30 February
    "110105189912310013",   # born before 1900
    "440524188001010014",   # the standard's example: check character right, born in 1880
    "110105210001010010",   # born in the future
    "010105199003071230",   # region cannot start with 0
    "110105900307123",      # 15-digit first-generation number
    "1101051990030712",     # too short
    "1101051990030712399",  # too long
    "11010519900307123Y", "11010519900307X239", "",
])
def test_invalid_resident_ids(value: str) -> None:
    assert not identifier_ok("id_card", value)


def test_check_characters_against_known_numbers() -> None:
    assert id_check_character("11010519491231002") == "X"
    assert id_check_character("44052418800101001") == "4"
    assert id_check_character("11010519900307123") == "9"


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.integers(100000, 999999))
    birth = draw(st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_character(first17)


@settings(max_examples=300, deadline=None)
@given(resident_ids())
def test_generated_ids_pass(value: str) -> None:
    assert valid_resident_id(value)
    assert identifier_ok("id_card", value.lower())


@settings(max_examples=300, deadline=None)
@given(resident_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_fails(value: str, at: int, new: str) -> None:
    changed = value[:at] + new + value[at + 1:]
    if changed != value:
        # MOD 11-2 detects every single substitution; a changed date may also be invalid.
        assert not valid_resident_id(changed)


@settings(max_examples=200, deadline=None)
@given(resident_ids(), st.integers(0, 16))
def test_any_swap_of_adjacent_digits_fails(value: str, at: int) -> None:
    swapped = value[:at] + value[at + 1] + value[at] + value[at + 2:]
    if swapped != value:
        assert not valid_resident_id(swapped)


def test_the_birth_date_is_checked_against_today() -> None:
    first17 = "11010520300101001"
    value = first17 + id_check_character(first17)
    assert not valid_resident_id(value, today=dt.date(2029, 12, 31))
    assert valid_resident_id(value, today=dt.date(2030, 1, 1))


# -- bank cards (Luhn), mobiles, emails -------------------------------------------------------

@pytest.mark.parametrize(("value", "ok"), [
    ("4111111111111111", True), ("4111 1111 1111 1111", True), ("6222020012345671", True),
    ("6222-0200-1234-5671", True), ("79927398713", False),  # Luhn-valid but 11 digits
    ("4111111111111112", False), ("6222020012345678", False), ("", False), ("abcd", False),
    ("62220200123456789012", False),  # 20 digits
    ("6217000010000000003", True),   # 19 digits
])
def test_bank_cards(value: str, ok: bool) -> None:
    assert identifier_ok("bank_card", value) is ok


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[1-9]\d{11,17}\Z"), st.integers(0, 18), st.integers(1, 9))
def test_luhn_catches_any_single_digit_change(body: str, at: int, delta: int) -> None:
    card = next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))
    at %= len(card)
    changed = card[:at] + str((int(card[at]) + delta) % 10) + card[at + 1:]
    assert identifier_ok("bank_card", card)
    assert not luhn_ok(changed)


@pytest.mark.parametrize(("value", "ok"), [
    ("13800138000", True), ("+86 138-0013-8000", True), ("8613800138000", True),
    ("(+86) 199 0000 0000", True), ("12800138000", False), ("1380013800", False),
    ("138001380001", False), ("23800138000", False), ("010-12345678", False),
    ("138-0013-8000 ext", False), ("+1 415 555 0100", False), ("", False),
])
def test_phones(value: str, ok: bool) -> None:
    assert identifier_ok("phone", value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("li.si@example.com", True), (" Li.Si@Example.COM ", True), ("a+tag@mail.example.cn", True),
    ("no-at-sign", False), ("a@b", False), ("a@@b.com", False), ("@example.com", False),
    ("a b@example.com", False), ("a@example.", False), ("a@.com", False),
    ("x" * 250 + "@a.cn", False),
])
def test_emails(value: str, ok: bool) -> None:
    assert identifier_ok("email", value) is ok


def test_kinds_without_rules_always_pass() -> None:
    assert identifier_ok("name", "") and identifier_ok("other", "anything")


# -- at ingress -------------------------------------------------------------------------------

GOOD: dict[str, Any] = {"applicant": {"id_number": "11010519491231002x", "phone": "13800138000",
                                      "email": "li.si@example.com", "name": "张三"},
                        "bank": {"card_no": "6222 0200 1234 5671", "card_int": 6222020012345671}}


def _with(path: str, value: Any) -> dict[str, Any]:
    record = json.loads(json.dumps(GOOD))
    group, key = path.split(".")
    record[group][key] = value
    return record


def test_good_identifiers_are_pseudonymised() -> None:
    out, problems = pseudonymise_record(GOOD, FIELDS, KEYS)
    assert problems == []
    assert all(is_pseudonym(v) for group in out.values() for v in group.values())


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("applicant.id_number", "11010519900307123X", "GB 11643"),
    ("applicant.id_number", "110105900307123", "18 characters"),
    ("applicant.phone", "12800138000", "mainland mobile"),
    ("bank.card_no", "6222 0200 1234 5678", "Luhn"),
    ("bank.card_int", 6222020012345678, "Luhn"),
    ("applicant.email", "li.si(at)example.com", "email"),
])
def test_bad_identifiers_are_input_identifier_problems_naming_the_rule_not_the_value(
        field: str, value: Any, rule: str) -> None:
    record = _with(field, value)
    out, problems = pseudonymise_record(record, FIELDS, KEYS)
    assert [(p.field, p.code) for p in problems] == [(field, "input-identifier")]
    message = problems[0].message
    assert message.startswith(f"Field `{field}` must be ") and rule in message
    assert str(value) not in message and str(value) not in json.dumps(out, ensure_ascii=False)
    group, key = field.split(".")
    assert out[group][key] is None


def test_type_and_length_problems_come_before_identifier_rules() -> None:
    _, problems = pseudonymise_record(_with("applicant.id_number", "1" * 19), FIELDS, KEYS)
    assert [p.code for p in problems] == ["input-length"]


def test_pseudonyms_are_not_checked_again() -> None:
    token = KEYS.pseudonym("id_card", "11010519491231002X")
    out, problems = pseudonymise_record(_with("applicant.id_number", token), FIELDS, KEYS)
    assert problems == [] and out["applicant"]["id_number"] == token
