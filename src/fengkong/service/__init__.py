"""The decision service: FastAPI app, durable decision log, releases, tenants and keys.

The web framework is imported only when an app is made, so commands that do not
serve stay quick to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fengkong.service._logging import configure_logging
from fengkong.service._settings import Settings

if TYPE_CHECKING:
    from fengkong.service._app import app_from_env, create_app

__all__ = ["Settings", "app_from_env", "configure_logging", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "app_from_env"):
        from fengkong.service import _app

        return getattr(_app, name)
    msg = f"module 'fengkong.service' has no attribute {name!r}"
    raise AttributeError(msg)
