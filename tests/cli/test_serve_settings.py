"""``fengkong serve`` hands its workers every setting, flags and environment alike.

Regression: ``serve`` built its settings from its flags only and wrote them all back to
the environment its workers read, so ``$FENGKONG_MONITOR_WINDOW`` and
``$FENGKONG_MONITOR_TTL`` (documented in docs/monitoring.md) were reset to their defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from fengkong.cli import app
from fengkong.service import Settings


def test_workers_get_the_flags_and_the_environment(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENGKONG_")}
    env |= {"FENGKONG_MONITOR_WINDOW": "3600", "FENGKONG_MONITOR_TTL": "-1"}
    monkeypatch.setattr(os, "environ", env)  # serve writes the workers' environment here
    ran: list[Settings] = []

    def run(*args: Any, **kwargs: Any) -> None:
        ran.append(Settings.from_env())  # what each worker process reads

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr("fengkong.cli._service.configure_logging", lambda level: None)
    out = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data"),
                                   "--routing-ttl", "0.5", "--key-cache-ttl", "3",
                                   "--no-example"])
    assert out.exit_code == 0, out.output
    [worker] = ran
    assert (worker.monitor_window, worker.monitor_ttl) == (3600.0, -1.0)
    assert (worker.routing_ttl, worker.key_cache_ttl) == (0.5, 3.0)
    assert worker.data_dir == (tmp_path / "data").resolve()
    assert worker.deploy_example is False
