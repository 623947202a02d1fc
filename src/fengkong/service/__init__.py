"""The decision service: FastAPI app, durable decision log, releases, tenants and keys."""

from fengkong.service._app import app_from_env, create_app
from fengkong.service._logging import configure_logging
from fengkong.service._settings import Settings

__all__ = ["Settings", "app_from_env", "configure_logging", "create_app"]
