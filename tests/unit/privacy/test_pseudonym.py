"""Keyed pseudonyms, display masks and the ingress step that pseudonymises a record."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fengkong import compile_strategy, evaluate
from fengkong.compile.ir import FieldIR
from fengkong.demo import example_pack_dir, example_record
from fengkong.errors import InputValidationError
from fengkong.privacy import PseudonymKeys, is_pseudonym, mask, normalise, pseudonymise_record
from fengkong.privacy._pseudonym import PseudonymKeyError

KEYS = PseudonymKeys.generate()
OTHER_KEYS = PseudonymKeys.generate()
TOKEN = re.compile(r"^pn1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{27}$")

PHONE = FieldIR("applicant.phone", "str", False, None, None, None, 20, "phone")
ID_NUMBER = FieldIR("applicant.id_number", "str", True, None, None, None, 18, "id_card")
NAME = FieldIR("applicant.name", "str", False, None, None, None, 64, "name")
BIRTH = FieldIR("applicant.birth_date", "date", False, None, None, None, None, "other")
CARD_NO = FieldIR("bank.card_no", "int", False, 0, 10**19, None, None, "bank_card")
FIELDS = [ID_NUMBER, PHONE, NAME]

KINDS = ("id_card", "phone", "bank_card", "email", "name", "other")


def _applicant(**over: Any) -> dict[str, Any]:
    applicant = {"id_number": "11010519491231002x", "phone": "+86 138-0013-8000",
                 "name": "张三", "age": 36}
    applicant.update(over)
    return {"channel": "app", "applicant": applicant}


# -- pseudonyms -----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["13800138000", "+86 138-0013-8000", "138 0013 8000",
                                     "8613800138000", "(+86)138.0013.8000"])
def test_phone_spellings_of_one_number_give_one_pseudonym(variant: str) -> None:
    assert KEYS.pseudonym("phone", variant, scope="t") == KEYS.pseudonym("phone", "13800138000",
                                                                        scope="t")


def test_normalisation_per_kind() -> None:
    assert KEYS.pseudonym("id_card", "11010519491231002x") == \
        KEYS.pseudonym("id_card", " 110105-19491231-002X")
    assert KEYS.pseudonym("bank_card", "6222 0200 1234 5678") == \
        KEYS.pseudonym("bank_card", "6222020012345678")
    assert KEYS.pseudonym("email", " Li.Si@Example.COM ") == \
        KEYS.pseudonym("email", "li.si@example.com")
    assert KEYS.pseudonym("name", "  张  三 ") == KEYS.pseudonym("name", "张 三")
    # A different number is a different person; a kind is part of what is hashed.
    assert KEYS.pseudonym("phone", "13800138001") != KEYS.pseudonym("phone", "13800138000")
    assert KEYS.pseudonym("bank_card", "13800138000") != KEYS.pseudonym("phone", "13800138000")


def test_scope_and_key_separate_pseudonyms() -> None:
    a = KEYS.pseudonym("phone", "13800138000", scope="bank_a")
    assert a != KEYS.pseudonym("phone", "13800138000", scope="bank_b")
    assert a != KEYS.pseudonym("phone", "13800138000")
    assert a != OTHER_KEYS.pseudonym("phone", "13800138000", scope="bank_a")
    assert a.split(".")[1] == KEYS.current != OTHER_KEYS.current
    assert OTHER_KEYS.pseudonym("phone", "1", scope="x").split(".")[1] == OTHER_KEYS.current


# -- the HMAC message: key id, namespace (scope and kind), value --------------------------------

SECRET = bytes(range(32))


def test_same_value_and_namespace_give_one_token_another_namespace_another() -> None:
    a = KEYS.pseudonym("id_card", "11010519491231002X", scope="bank_a")
    assert a == KEYS.pseudonym("id_card", "11010519491231002x", scope="bank_a")
    assert a != KEYS.pseudonym("id_card", "11010519491231002X", scope="bank_b")  # other scope
    assert a != KEYS.pseudonym("other", "11010519491231002X", scope="bank_a")  # other kind
    # The separator keeps "scope + kind" from being re-cut into another namespace.
    assert KEYS.pseudonym("name", "x", scope="a\x1fname") != KEYS.pseudonym("name", "x", scope="a")


def test_the_token_is_the_hmac_of_key_id_namespace_and_value() -> None:
    keys = PseudonymKeys("0000aaaa", {"0000aaaa": SECRET})
    message = b"0000aaaa\x1fbank_a\x1fphone\x1f13800138000"
    digest = hmac.new(SECRET, message, hashlib.sha256).digest()[:20]
    expected = "pn1.0000aaaa." + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert keys.pseudonym("phone", "+86 138 0013 8000", scope="bank_a") == expected


def test_the_token_carries_its_key_id_and_another_id_with_the_same_secret_changes_it() -> None:
    a = PseudonymKeys("0000aaaa", {"0000aaaa": SECRET}).pseudonym("phone", "13800138000")
    b = PseudonymKeys("0000bbbb", {"0000bbbb": SECRET}).pseudonym("phone", "13800138000")
    assert a.split(".")[1] == "0000aaaa" and b.split(".")[1] == "0000bbbb"
    assert a.split(".")[2] != b.split(".")[2]  # not just the label: the MAC itself differs


# -- rotation -------------------------------------------------------------------------------

def test_rotation_adds_a_current_key_and_keeps_the_old_ones() -> None:
    once = KEYS.rotated()
    twice = once.rotated()
    assert once.current != KEYS.current and len(once.secrets[once.current]) == 32
    assert once.key_ids == (once.current, KEYS.current)
    assert twice.key_ids == (twice.current, once.current, KEYS.current)
    assert dict(KEYS.secrets).items() <= dict(twice.secrets).items()  # old secrets kept as is
    new = twice.pseudonym("phone", "13800138000", scope="t")
    assert new.split(".")[1] == twice.current != KEYS.current
    assert twice.pseudonyms("phone", "+86 13800138000", scope="t") == (
        new, once.pseudonym("phone", "13800138000", scope="t"),
        KEYS.pseudonym("phone", "13800138000", scope="t"))
    assert KEYS.pseudonyms("phone", "13800138000") == (KEYS.pseudonym("phone", "13800138000"),)


def test_pseudonyms_put_the_current_key_first_whatever_the_file_order() -> None:
    both = PseudonymKeys(OTHER_KEYS.current, {**KEYS.secrets, **OTHER_KEYS.secrets})
    tokens = both.pseudonyms("name", "张三", scope="s")
    assert [t.split(".")[1] for t in tokens] == [OTHER_KEYS.current, KEYS.current]
    assert tokens == (OTHER_KEYS.pseudonym("name", "张三", scope="s"),
                      KEYS.pseudonym("name", "张三", scope="s"))


def test_a_rotated_key_set_saves_and_loads_back_with_its_current_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KEYS.save(path)
    rotated = PseudonymKeys.load_or_create(path).rotated()
    rotated.save(path)
    loaded = PseudonymKeys.load_or_create(path)
    assert loaded == rotated and loaded.key_ids == rotated.key_ids
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PseudonymKeys.parse(rotated.to_json(), where="x") == rotated


def test_the_key_material_is_not_in_the_repr() -> None:
    text = repr(KEYS) + str(KEYS)
    secret = KEYS.secrets[KEYS.current]
    assert base64.b64encode(secret).decode() not in text and repr(secret) not in text
    assert KEYS.current in text


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS), value=st.text(max_size=40), scope=st.text(max_size=12))
def test_the_same_value_always_gives_the_same_well_formed_pseudonym(kind: str, value: str,
                                                                    scope: str) -> None:
    token = KEYS.pseudonym(kind, value, scope=scope)
    assert TOKEN.match(token) and is_pseudonym(token)
    assert token == KEYS.pseudonym(kind, value, scope=scope)
    assert token == KEYS.pseudonym(kind, normalise(kind, value), scope=scope)
    assert value not in token[13:] or len(value) < 4  # the value is not carried along


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS), a=st.text(max_size=30), b=st.text(max_size=30))
def test_different_values_give_different_pseudonyms(kind: str, a: str, b: str) -> None:
    same = normalise(kind, a) == normalise(kind, b)
    assert (KEYS.pseudonym(kind, a) == KEYS.pseudonym(kind, b)) is same


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=10**10, max_value=10**11 - 1))
def test_phone_numbers_with_or_without_the_country_code_agree(number: int) -> None:
    assert KEYS.pseudonym("phone", f"+86 {number}") == KEYS.pseudonym("phone", str(number))


@pytest.mark.parametrize("value", [None, 123, b"pn1.abcdef01.aaaaaaaaaaaaaaaaaaaaaaaaaaa", "",
                                   "pn1.abcdef01.short", "pn2.abcdef01.aaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                   "pn1.ABCDEF01.aaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                   "pn1.abcdef01.aaaaaaaaaaaaaaaaaaaaaaaaaaa\n"])
def test_is_pseudonym_refuses_lookalikes(value: object) -> None:
    assert not is_pseudonym(value)


# -- the key file ---------------------------------------------------------------------------

def test_the_key_file_is_created_owner_only_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "pseudonym-keys.json"
    made = PseudonymKeys.load_or_create(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_suffix(".tmp").exists()
    loaded = PseudonymKeys.load_or_create(path)
    assert loaded.current == made.current
    assert dict(loaded.secrets) == dict(made.secrets)
    assert len(made.secrets[made.current]) == 32
    assert loaded.pseudonym("phone", "13800138000", scope="t") == \
        made.pseudonym("phone", "13800138000", scope="t")
    doc = json.loads(path.read_text())
    assert set(doc) == {"current", "keys"} and doc["current"] == made.current


def test_a_file_with_several_keys_pseudonymises_with_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    both = PseudonymKeys(OTHER_KEYS.current, {**KEYS.secrets, **OTHER_KEYS.secrets})
    both.save(path)
    loaded = PseudonymKeys.load_or_create(path)
    assert set(loaded.secrets) == {KEYS.current, OTHER_KEYS.current}
    assert loaded.pseudonym("phone", "1") == OTHER_KEYS.pseudonym("phone", "1")


@pytest.mark.parametrize("content", [
    "not json",
    "",
    "[]",
    '"text"',
    '{"current": "abc"}',
    '{"keys": {}}',
    '{"current": "abc", "keys": {"abc": 5}}',
    '{"current": "abc", "keys": {"abc": "abc"}}',  # bad base64 padding
])
def test_a_malformed_key_file_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(PseudonymKeyError) as info:
        PseudonymKeys.load_or_create(path)
    assert str(path) in str(info.value)
    assert path.read_text() == content  # never overwritten


def test_a_key_file_whose_current_key_is_missing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KEYS.save(path)
    doc = json.loads(path.read_text())
    doc["current"] = "deadbeef"
    path.write_text(json.dumps(doc))
    with pytest.raises(PseudonymKeyError, match="deadbeef") as info:
        PseudonymKeys.load_or_create(path)
    assert str(path) in str(info.value)


def test_a_key_file_whose_keys_are_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"current": "abc", "keys": ["abc"]}')
    with pytest.raises(PseudonymKeyError) as info:
        PseudonymKeys.load_or_create(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("secret", ["!!!!", ""])  # not base64 (decodes to b"" leniently), empty
def test_a_key_that_is_empty_or_not_base64_is_refused(tmp_path: Path, secret: str) -> None:
    # An empty HMAC key would still "work" and make pseudonyms anyone can recompute.
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"current": "abc", "keys": {"abc": secret}}))
    with pytest.raises(PseudonymKeyError) as info:
        PseudonymKeys.load_or_create(path)
    assert str(path) in str(info.value)


def test_a_key_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.mkdir()
    with pytest.raises(PseudonymKeyError, match=r"keys\.json"):
        PseudonymKeys.load_or_create(path)


# -- masks ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "value", "masked"), [
    ("id_card", "11010519491231002x", "110105********002X"),
    ("id_card", "110105900307123", "110105*****7123"),
    ("id_card", "1234", "1**4"),
    ("phone", "+86 138-0013-8000", "138****8000"),
    ("phone", "95588", "***88"),
    ("bank_card", "6222 0200 1234 5678", "************5678"),
    ("bank_card", "5678", "****"),
    ("name", "张三丰", "张**"),
    ("name", "张", "*"),
    ("email", "Li.Si@Example.com", "l***@example.com"),
    ("email", "no-at-sign", "********"),
    ("other", "abc", "***"),
    ("other", "a long free text value", "********"),
])
def test_mask(kind: str, value: str, masked: str) -> None:
    assert mask(kind, value) == masked


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(("id_card", "phone", "bank_card", "name")),
       value=st.text(alphabet="0123456789Xx张三 -", min_size=1, max_size=25))
def test_a_mask_keeps_the_length_and_shows_at_most_ten_characters(kind: str, value: str) -> None:
    v = normalise(kind, value)
    m = mask(kind, value)
    assert len(m) == len(v)
    shown = [c for c in m if c != "*"]
    assert len(shown) <= 10
    assert len(shown) < len(v) or len(v) == 0
    assert all(c == "*" or c == v[i] for i, c in enumerate(m))


# -- pseudonymise_record --------------------------------------------------------------------

def test_nested_record_is_pseudonymised_and_the_callers_dict_is_untouched() -> None:
    record = _applicant()
    before = copy.deepcopy(record)
    out, problems = pseudonymise_record(record, FIELDS, KEYS, scope="bank_a")
    assert problems == []
    assert record == before
    a = out["applicant"]
    assert a["phone"] == KEYS.pseudonym("phone", "13800138000", scope="bank_a")
    assert a["id_number"] == KEYS.pseudonym("id_card", "11010519491231002X", scope="bank_a")
    assert a["name"] == KEYS.pseudonym("name", "张三", scope="bank_a")
    assert (a["age"], out["channel"]) == (36, "app")
    assert a is not record["applicant"]
    for raw in ("13800138000", "138-0013-8000", "11010519491231002", "张三"):
        assert raw not in json.dumps(out, ensure_ascii=False)


def test_dotted_record_is_pseudonymised() -> None:
    record = {"applicant.phone": "138 0013 8000", "applicant.id_number": "11010519491231002X",
              "applicant.age": 30}
    before = dict(record)
    out, problems = pseudonymise_record(record, FIELDS, KEYS, scope="s")
    assert problems == [] and record == before
    assert out["applicant.phone"] == KEYS.pseudonym("phone", "13800138000", scope="s")
    assert is_pseudonym(out["applicant.id_number"]) and out["applicant.age"] == 30
    assert "applicant.name" not in out and "applicant" not in out


def test_missing_optional_fields_stay_missing_and_none_stays_none() -> None:
    record = _applicant(phone=None)
    del record["applicant"]["name"]
    out, problems = pseudonymise_record(record, FIELDS, KEYS)
    assert problems == []
    assert out["applicant"]["phone"] is None and "name" not in out["applicant"]


@pytest.mark.parametrize(("record", "field", "code"), [
    ({"applicant": {"phone": "13800138000"}}, "applicant.id_number", "input-missing"),
    ({"applicant": "not an object"}, "applicant.id_number", "input-missing"),
    (_applicant(id_number=None), "applicant.id_number", "input-missing"),
    (_applicant(id_number=110105199003071234), "applicant.id_number", "input-type"),
    (_applicant(phone=13800138000), "applicant.phone", "input-type"),
    (_applicant(phone=["13800138000"]), "applicant.phone", "input-type"),
    (_applicant(phone=True), "applicant.phone", "input-type"),
    (_applicant(id_number="110105199003071234567"), "applicant.id_number", "input-length"),
    (_applicant(phone="+86 138-0013-8000 ext 1234"), "applicant.phone", "input-length"),
    (_applicant(name="张" * 65), "applicant.name", "input-length"),
])
def test_bad_raw_values_are_reported_with_the_engines_codes_and_never_echoed(
        record: dict[str, Any], field: str, code: str) -> None:
    before = copy.deepcopy(record)
    out, problems = pseudonymise_record(record, FIELDS, KEYS)
    assert record == before
    assert [(p.field, p.code) for p in problems] == [(field, code)]
    raw = _lookup(record, field)
    text = json.dumps([p.message for p in problems], ensure_ascii=False) + json.dumps(
        out, ensure_ascii=False, default=str)
    for value in raw if isinstance(raw, list) else [raw]:
        if value is not None and not isinstance(value, bool | dict):
            assert str(value) not in text
    assert problems[0].message.startswith(f"Field `{field}`")
    if code != "input-missing":
        assert _lookup(out, field) is None  # dropped from the copy, never pseudonymised


def _lookup(record: dict[str, Any], name: str) -> Any:
    node: Any = record
    for part in name.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def test_problem_codes_agree_with_the_engine() -> None:
    strategy = compile_strategy(example_pack_dir() / "strategy.yaml")
    record = example_record()
    record["applicant"]["phone"] = 13800138000
    record["applicant"]["id_number"] = "1" * 19
    del record["applicant"]["name"]
    with pytest.raises(InputValidationError) as info:
        evaluate(strategy, record)
    engine = {(p.field, p.code) for p in info.value.problems}
    _, problems = pseudonymise_record(record, strategy.plan.pii_fields, KEYS)
    assert {(p.field, p.code) for p in problems} == engine == {
        ("applicant.phone", "input-type"), ("applicant.id_number", "input-length")}


def test_the_example_pack_record_is_pseudonymised_for_the_service() -> None:
    strategy = compile_strategy(example_pack_dir() / "strategy.yaml", pii_tokens=True)
    record = example_record()
    out, problems = pseudonymise_record(record, strategy.plan.pii_fields, KEYS, scope="default")
    assert problems == []
    assert {f.name for f in strategy.plan.pii_fields} == {
        "applicant.id_number", "applicant.phone", "applicant.name"}
    assert all(is_pseudonym(out["applicant"][k]) for k in ("id_number", "phone", "name"))
    assert evaluate(strategy, out).decision in ("approve", "decline", "refer")


def test_already_pseudonymised_values_are_kept() -> None:
    token = OTHER_KEYS.pseudonym("phone", "13800138000")  # another key's, from upstream
    mine = KEYS.pseudonym("id_card", "11010519491231002X")
    out, problems = pseudonymise_record(_applicant(phone=token, id_number=mine), FIELDS, KEYS)
    assert problems == []
    assert out["applicant"]["phone"] == token and out["applicant"]["id_number"] == mine
    again, _ = pseudonymise_record(out, FIELDS, KEYS)  # a replayed record stays the same
    assert again == out


def test_scope_separates_tenants_in_records() -> None:
    a, _ = pseudonymise_record(_applicant(), FIELDS, KEYS, scope="bank_a")
    b, _ = pseudonymise_record(_applicant(), FIELDS, KEYS, scope="bank_b")
    assert a["applicant"]["phone"] != b["applicant"]["phone"]
    assert a["applicant"]["age"] == b["applicant"]["age"]


def test_dates_and_ints_are_checked_and_pseudonymised_as_text() -> None:
    fields = [BIRTH, CARD_NO]
    ok, problems = pseudonymise_record(
        {"applicant": {"birth_date": dt.date(1990, 3, 7)}, "bank": {"card_no": 6222020012345671}},
        fields, KEYS)
    assert problems == []
    assert ok["applicant"]["birth_date"] == KEYS.pseudonym("other", "1990-03-07")
    assert ok["bank"]["card_no"] == KEYS.pseudonym("bank_card", "6222020012345671")
    same, _ = pseudonymise_record({"applicant": {"birth_date": "1990-03-07"}}, fields, KEYS)
    assert same["applicant"]["birth_date"] == ok["applicant"]["birth_date"]
    bad, problems = pseudonymise_record(
        {"applicant": {"birth_date": "1990-02-30"}, "bank": {"card_no": -5}}, fields, KEYS)
    assert [(p.field, p.code) for p in problems] == [
        ("applicant.birth_date", "input-date"), ("bank.card_no", "input-range")]
    assert bad["applicant"]["birth_date"] is None and bad["bank"]["card_no"] is None
    _, problems = pseudonymise_record({"bank": {"card_no": "6222"}, "applicant": {
        "birth_date": 19900307}}, fields, KEYS)
    assert sorted(p.code for p in problems) == ["input-type", "input-type"]


@settings(max_examples=100, deadline=None)
@given(st.one_of(
    st.builds(lambda prefix, a, b, c, sep: f"{prefix}{a}{sep}{b}{sep}{c}",
              st.sampled_from(["", "+86 ", "86", "(+86) "]), st.from_regex(r"\A1[3-9]\d\Z"),
              st.from_regex(r"\A\d{4}\Z"), st.from_regex(r"\A\d{4}\Z"),
              st.sampled_from(["", " ", "-"])),
    st.builds(lambda t: KEYS.pseudonym("phone", t), st.from_regex(r"\A1[3-9]\d{9}\Z"))))
def test_any_valid_phone_text_is_replaced_and_never_kept(value: str) -> None:
    record = {"applicant": {"phone": value, "id_number": "11010519491231002X"}}
    out, problems = pseudonymise_record(record, FIELDS, KEYS, scope="t")
    assert problems == []
    token = out["applicant"]["phone"]
    if is_pseudonym(value):
        assert token == value
    else:
        assert token == KEYS.pseudonym("phone", value, scope="t")
    assert record["applicant"]["phone"] == value
