"""``fengkong pseudonym-keys show|rotate``: key ids only on screen, the key file rewritten
atomically (0600) keeping the old keys, or with $FENGKONG_PSEUDONYM_KEYS the new key set
printed for the secret manager and nothing written."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fengkong.cli import app
from fengkong.privacy import PseudonymKeys
from fengkong.privacy._pseudonym import KEYS_ENV


@pytest.fixture(autouse=True)
def _no_key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv("FENGKONG_PSEUDONYM_KEY_FILE", raising=False)


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env={"COLUMNS": "200", **(env or {})}).invoke(
        app, ["pseudonym-keys", *args])


def _material(keys: PseudonymKeys) -> list[str]:
    return [base64.b64encode(s).decode() for s in keys.secrets.values()]


def test_rotate_rewrites_the_key_file_keeping_the_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pseudonym-keys.json"
    first = PseudonymKeys.load_or_create(path)
    path.chmod(0o644)  # a loose mode is tightened by the rewrite
    r = _run("rotate", "--data-dir", str(tmp_path / "data"))
    assert r.exit_code == 0, r.output
    after = PseudonymKeys.load_or_create(path)
    assert after.key_ids[1:] == (first.current,) and after.current != first.current
    assert after.secrets[first.current] == first.secrets[first.current]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_suffix(".tmp").exists()
    assert after.current in r.output and first.current in r.output
    for material in _material(after):
        assert material not in r.output
    # The old pseudonyms are still made (for lookups), new ones with the new key.
    tokens = after.pseudonyms("phone", "13800138000", scope="t")
    assert tokens[1] == first.pseudonym("phone", "13800138000", scope="t")
    assert tokens[0].startswith(f"pn1.{after.current}.")

    shown = _run("show", "--data-dir", str(tmp_path / "data"))
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines()
             if after.current in line or first.current in line]
    assert len(lines) == 2 and "yes" in lines[0] and after.current in lines[0]
    assert "yes" not in lines[1]
    for material in _material(after):
        assert material not in shown.output


def test_with_the_variable_rotate_prints_the_new_set_and_writes_nothing(tmp_path: Path) -> None:
    keys = PseudonymKeys.generate()
    env = {KEYS_ENV: keys.to_json()}
    r = CliRunner(env={"COLUMNS": "200", **env}).invoke(
        app, ["pseudonym-keys", "rotate", "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 0, r.output
    new = PseudonymKeys.parse(r.stdout, where="stdout")  # stdout is the JSON alone
    assert new.key_ids[1:] == (keys.current,) and new.current != keys.current
    assert new.secrets[keys.current] == keys.secrets[keys.current]
    assert KEYS_ENV in r.stderr and "secret manager" in r.stderr
    for material in _material(new):
        assert material not in r.stderr
    assert not (tmp_path / "data").exists()  # no key file made or changed
    shown = CliRunner(env={"COLUMNS": "200", **env}).invoke(
        app, ["pseudonym-keys", "show", "--data-dir", str(tmp_path / "data")])
    assert shown.exit_code == 0 and KEYS_ENV in shown.stdout and keys.current in shown.stdout
    assert json.loads(env[KEYS_ENV])["keys"][keys.current] not in shown.stdout


def test_without_keys_show_and_rotate_fail_and_create_nothing(tmp_path: Path) -> None:
    for command in ("show", "rotate"):
        r = _run(command, "--data-dir", str(tmp_path / "data"))
        assert r.exit_code == 1
        assert "No pseudonym keys" in r.output
    assert not (tmp_path / "data").exists()


def test_a_malformed_variable_is_refused_without_the_material(tmp_path: Path) -> None:
    secret = base64.b64encode(bytes(16)).decode()
    text = json.dumps({"current": "0000aaaa", "keys": {"0000aaaa": secret}})
    r = CliRunner(env={KEYS_ENV: text}).invoke(
        app, ["pseudonym-keys", "rotate", "--data-dir", str(tmp_path)])
    assert r.exit_code == 1
    assert KEYS_ENV in r.output and secret not in r.output


def test_concurrent_rotations_lose_no_key(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "data" / "pseudonym-keys.json"
    first = PseudonymKeys.load_or_create(path)
    script = Path(sys.executable).parent / "fengkong"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "fengkong.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGKONG_PSEUDONYM")}
    procs = [subprocess.Popen([*command, "pseudonym-keys", "rotate", "--data-dir",
                               str(tmp_path / "data")], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    after = PseudonymKeys.load_or_create(path)
    assert len(after.key_ids) == 5 and after.key_ids[-1] == first.current
