"""The service's settings: where data lives, which database, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fengkong.privacy import PseudonymKeys
from fengkong.privacy._pseudonym import KEYS_ENV
from fengkong.store import sqlite_url


def default_data_dir() -> Path:
    """``$FENGKONG_DATA_DIR``, else ``./fengkong-data``."""
    return Path(os.environ.get("FENGKONG_DATA_DIR", "fengkong-data"))


def _env_velocity() -> str | None:
    return os.environ.get("FENGKONG_VELOCITY_URL") or None


def _env_keys() -> str | None:
    return os.environ.get(KEYS_ENV) or None


@dataclass(frozen=True)
class Settings:
    """How one service process runs.

    Attributes
    ----------
    data_dir
        Holds the SQLite database (embedded default), the pseudonym key file and
        unpacked strategy versions.
    database_url
        ``sqlite:///...`` or ``postgresql://...``; default: ``<data_dir>/fengkong.db``.
    tenant
        The tenant the example strategy pack is deployed for at start-up.
    deploy_example
        Deploy the example pack for ``tenant`` when it has no deployment of it.
    max_body_bytes
        Larger request bodies get 413 before they are read in full.
    pseudonym_key_file
        Default ``<data_dir>/pseudonym-keys.json`` (created on first start). Servers
        sharing one database must share this file.
    pseudonym_keys
        The keys as JSON text in the key file's format; default
        ``$FENGKONG_PSEUDONYM_KEYS``. When set, the key file is not used.
    routing_ttl
        Seconds a server keeps what it knows of a deployment before it looks again
        (releases made through another server are seen within this time);
        ``$FENGKONG_ROUTING_TTL``.
    key_cache_ttl
        Seconds a server remembers a verified API key (a key revoked through another
        server stops working within this time); ``$FENGKONG_KEY_CACHE_TTL``.
    monitor_window
        Seconds of decisions the monitoring gauges cover (default 7 days).
    monitor_ttl
        Seconds the monitoring gauges are kept before a scrape of ``/metrics`` recomputes
        them from the log (negative: never).
    monitor_reference_dir
        Holds ``<strategy id>.parquet``, the development sample the score PSI gauge compares
        with; without it the gauge compares with the window before.
    monitor_max_records
        Most decisions per strategy read for one window.
    velocity_url
        Where velocity features keep their events: ``redis://host:port/db`` (shared by
        every server), ``sqlite:///FILE``, or the embedded default
        ``<data_dir>/velocity.db``; default ``$FENGKONG_VELOCITY_URL``.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    tenant: str = "default"
    deploy_example: bool = True
    max_body_bytes: int = 1 << 20
    pseudonym_key_file: Path | None = None
    pseudonym_keys: str | None = field(default_factory=_env_keys, repr=False)
    routing_ttl: float = 2.0
    key_cache_ttl: float = 5.0
    monitor_window: float = 7 * 86400.0
    monitor_ttl: float = 300.0
    monitor_reference_dir: Path | None = None
    monitor_max_records: int = 200_000
    velocity_url: str | None = field(default_factory=_env_velocity)

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``FENGKONG_*`` environment variables (how ``serve`` passes them on)."""
        env = os.environ
        return cls(
            data_dir=default_data_dir(),
            database_url=env.get("FENGKONG_DATABASE_URL") or None,
            tenant=env.get("FENGKONG_TENANT", "default"),
            deploy_example=env.get("FENGKONG_DEPLOY_EXAMPLE", "1") != "0",
            max_body_bytes=int(env.get("FENGKONG_MAX_BODY_BYTES", str(1 << 20))),
            pseudonym_key_file=Path(env["FENGKONG_PSEUDONYM_KEY_FILE"])
            if env.get("FENGKONG_PSEUDONYM_KEY_FILE") else None,
            pseudonym_keys=_env_keys(),
            routing_ttl=float(env.get("FENGKONG_ROUTING_TTL", "2")),
            key_cache_ttl=float(env.get("FENGKONG_KEY_CACHE_TTL", "5")),
            monitor_window=float(env.get("FENGKONG_MONITOR_WINDOW", str(7 * 86400.0))),
            monitor_ttl=float(env.get("FENGKONG_MONITOR_TTL", "300")),
            monitor_reference_dir=Path(env["FENGKONG_MONITOR_REFERENCE_DIR"])
            if env.get("FENGKONG_MONITOR_REFERENCE_DIR") else None,
            velocity_url=_env_velocity(),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that :meth:`from_env` reads back into these settings."""
        env = {"FENGKONG_DATA_DIR": str(self.data_dir.resolve()),
               "FENGKONG_DATABASE_URL": self.database_url or "",
               "FENGKONG_TENANT": self.tenant,
               "FENGKONG_DEPLOY_EXAMPLE": "1" if self.deploy_example else "0",
               "FENGKONG_MAX_BODY_BYTES": str(self.max_body_bytes)}
        if self.pseudonym_key_file is not None:
            env["FENGKONG_PSEUDONYM_KEY_FILE"] = str(self.pseudonym_key_file.resolve())
        if self.pseudonym_keys:
            env[KEYS_ENV] = self.pseudonym_keys
        env["FENGKONG_ROUTING_TTL"] = str(self.routing_ttl)
        env["FENGKONG_KEY_CACHE_TTL"] = str(self.key_cache_ttl)
        env["FENGKONG_MONITOR_WINDOW"] = str(self.monitor_window)
        env["FENGKONG_MONITOR_TTL"] = str(self.monitor_ttl)
        if self.monitor_reference_dir is not None:
            env["FENGKONG_MONITOR_REFERENCE_DIR"] = str(self.monitor_reference_dir.resolve())
        if self.velocity_url:
            env["FENGKONG_VELOCITY_URL"] = self.velocity_url
        return env

    @property
    def url(self) -> str:
        """The database URL in force."""
        return self.database_url or sqlite_url(self.data_dir.resolve() / "fengkong.db")

    @property
    def key_file(self) -> Path:
        """The pseudonym key file in force."""
        return self.pseudonym_key_file or self.data_dir / "pseudonym-keys.json"

    def load_keys(self) -> PseudonymKeys:
        """The pseudonym keys in force: :attr:`pseudonym_keys` if set, else the key file's."""
        return PseudonymKeys.load(self.key_file, self.pseudonym_keys)
