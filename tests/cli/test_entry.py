"""The entry points: ``python -m fengkong.cli``, ``--version``, help and usage errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fengkong
from fengkong.cli import app, main


def test_installed_command_prints_version() -> None:
    # The console script when the package is installed (as in CI), else the module.
    script = shutil.which("fengkong", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "fengkong.cli"]
    src = str(Path(fengkong.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }
    done = subprocess.run(
        [*command, "--version"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fengkong {fengkong.__version__}"


def test_main_is_the_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["fengkong", "--version"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fengkong {fengkong.__version__}"


def test_version_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fengkong {fengkong.__version__}"


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    for command in ("validate", "decide", "batch", "init", "schema", "demo-data", "demo"):
        assert command in result.output


def test_unknown_option_is_a_usage_error(runner: CliRunner, mini_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--no-such-option", str(mini_path)])
    assert result.exit_code == 2


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    assert runner.invoke(app, ["frobnicate"]).exit_code == 2
