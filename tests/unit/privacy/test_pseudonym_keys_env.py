"""Pseudonym keys from ``$FENGKONG_PSEUDONYM_KEYS``, with the key file as the fallback."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fengkong.privacy import PseudonymKeys
from fengkong.privacy._pseudonym import KEYS_ENV, PseudonymKeyError
from fengkong.service import Settings

SECRET = bytes(range(32))
SECRET_B64 = base64.b64encode(SECRET).decode()
OLD = bytes(range(100, 132))
ENV_TEXT = json.dumps({"current": "0000bbbb", "keys": {"0000aaaa": base64.b64encode(OLD).decode(),
                                                   "0000bbbb": SECRET_B64}})


def test_the_variable_is_parsed_and_the_key_file_is_not_touched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYS_ENV, ENV_TEXT)
    settings = Settings(data_dir=tmp_path / "data")
    keys = settings.load_keys()
    assert keys.current == "0000bbbb"
    assert dict(keys.secrets) == {"0000aaaa": OLD, "0000bbbb": SECRET}
    assert keys.pseudonym("phone", "13912345678").startswith("pn1.0000bbbb.")
    assert not settings.key_file.exists()  # no file is created when the variable is set
    assert Settings.from_env().pseudonym_keys == ENV_TEXT
    assert Settings.from_env().to_env()[KEYS_ENV] == ENV_TEXT  # passed on to workers
    assert SECRET_B64 not in repr(settings)


def test_pseudonyms_agree_with_a_key_file_holding_the_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(ENV_TEXT)
    from_file = PseudonymKeys.load(path)
    from_env = PseudonymKeys.load(tmp_path / "unused.json", ENV_TEXT)
    assert from_file.pseudonym("id_card", "11010519491231002X", scope="t") == \
        from_env.pseudonym("id_card", "11010519491231002X", scope="t")


@pytest.mark.parametrize("value", ["", None])
def test_without_the_variable_the_key_file_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(KEYS_ENV, raising=False)
    else:
        monkeypatch.setenv(KEYS_ENV, value)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.pseudonym_keys is None
    made = settings.load_keys()  # created on first use ...
    assert settings.key_file.exists()
    assert settings.load_keys() == made  # ... and read back after
    assert KEYS_ENV not in settings.to_env()


@pytest.mark.parametrize("text", [
    "not json " + SECRET_B64,
    json.dumps([SECRET_B64]),
    json.dumps({"current": "0000bbbb"}),
    json.dumps({"keys": {"0000bbbb": SECRET_B64}}),
    json.dumps({"current": "0000bbbb", "keys": {"0000bbbb": SECRET_B64[:-2]}}),  # bad padding
    json.dumps({"current": "0000bbbb", "keys": {"0000bbbb": SECRET_B64 + "!"}}),  # not base64
    json.dumps({"current": "0000bbbb", "keys": {"0000bbbb": base64.b64encode(SECRET[:16]).decode()}}),
    json.dumps({"current": "0000cccc", "keys": {"0000bbbb": SECRET_B64}}),
    json.dumps({"current": SECRET_B64, "keys": {"0000bbbb": SECRET_B64}}),  # material as the id
    json.dumps({"current": "0000bbbb", "keys": [SECRET_B64]}),
    json.dumps({"current": "k2", "keys": {"k2": SECRET_B64}}),  # not a key id
])
def test_a_malformed_value_is_refused_naming_the_variable_not_the_material(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(KEYS_ENV, text)
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(PseudonymKeyError) as info:
        settings.load_keys()
    message = str(info.value)
    assert f"${KEYS_ENV}" in message
    for material in (SECRET_B64, SECRET_B64[:-2], base64.b64encode(SECRET[:16]).decode()):
        assert material not in message
    # no chained exception (a JSON or base64 error) carries the text into a traceback
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert not settings.key_file.exists()  # no silent fallback to a new file
