"""Connectors: how a source's data is fetched (HTTP JSON, SQL lookup, file lookup, request).

A connector turns the source's parameters into one object of raw values, or None when
the provider has nothing on the person. Failures raise :class:`SourceFailure` with the
status they map to; messages never carry parameter values (they may be identifiers).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl

from fengkong.errors import FengkongError

ERROR, TIMEOUT, INVALID = "ERROR", "TIMEOUT", "INVALID_RESPONSE"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SourceFailure(FengkongError):
    """A call that gave no usable answer; ``status`` is ERROR or INVALID_RESPONSE.

    ``retry`` says whether trying again could help (a connection error or a 5xx may
    pass; a malformed answer will not).
    """

    def __init__(self, status: str, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry = retry


def _failure(status: str, detail: str, *, retry: bool) -> SourceFailure:
    return SourceFailure(status, detail, retry=retry)


def expand_env(text: str, where: str) -> str:
    """``${NAME}`` replaced by the environment variable NAME (unset: a SourceFailure)."""

    def one(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise _failure(ERROR, f"{where}: environment variable {m.group(1)} is not set",
                                retry=False)
        return value

    return _ENV.sub(one, text)


def dig(obj: Any, path: str) -> Any:
    """The value at a dotted path of nested objects (None where a step is missing)."""
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


class Connector:
    """Fetch one object of raw values for the given parameters."""

    async def fetch(self, params: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""


class HttpConnector(Connector):
    """A JSON provider: parameters as a JSON body (POST) or query string (GET).

    2xx with a JSON object: the answer (at ``response`` when given); 404: no data;
    408, 429 and 5xx: a failure worth retrying; other statuses and non-JSON bodies: a
    failure that is not.
    """

    def __init__(self, spec: Mapping[str, Any], name: str) -> None:
        self.spec = spec
        self.name = name
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                follow_redirects=False, trust_env=False)
        return self._client

    async def fetch(self, params: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        where = f"source {self.name}"
        url = expand_env(str(self.spec["url"]), where)
        headers = {k: expand_env(str(v), where) for k, v in dict(self.spec["headers"]).items()}
        headers.setdefault("Accept", "application/json")
        try:
            if self.spec["method"] == "GET":
                resp = await self._http().get(url, params={k: _text(v) for k, v in params.items()},
                                              headers=headers, timeout=timeout)
            else:
                resp = await self._http().post(url, content=orjson.dumps(dict(params)),
                                               headers={**headers,
                                                        "Content-Type": "application/json"},
                                               timeout=timeout)
        except httpx.TimeoutException:
            raise _failure(TIMEOUT, "timed out", retry=True) from None
        except httpx.HTTPError as e:
            raise _failure(ERROR, type(e).__name__, retry=True) from None
        if resp.status_code == 404:
            return None
        if resp.status_code in (408, 429) or resp.status_code >= 500:
            raise _failure(ERROR, f"HTTP {resp.status_code}", retry=True)
        if not 200 <= resp.status_code < 300:
            raise _failure(ERROR, f"HTTP {resp.status_code}", retry=False)
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise _failure(INVALID, "the body is not JSON", retry=False) from None
        path = self.spec.get("response")
        if path:
            body = dig(body, str(path))
            if body is None:
                return None
        if not isinstance(body, dict):
            raise _failure(INVALID, "the answer is not a JSON object", retry=False)
        return body

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SqlConnector(Connector):
    """The first row of a parameterised query (no row: no data), on a pooled engine."""

    def __init__(self, spec: Mapping[str, Any], name: str) -> None:
        self.spec = spec
        self.name = name
        self._engine: Any = None
        self._lock = threading.Lock()

    def _run(self, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        import sqlalchemy as sa  # the engine-free core of the package never needs it

        with self._lock:
            if self._engine is None:
                url = expand_env(str(self.spec["url"]), f"source {self.name}")
                self._engine = sa.create_engine(url, pool_pre_ping=True)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(sa.text(str(self.spec["query"])), dict(params)).mappings().first()
        except sa.exc.SQLAlchemyError as e:
            raise _failure(ERROR, type(e).__name__, retry=True) from None
        return dict(row) if row is not None else None

    async def fetch(self, params: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        return await asyncio.to_thread(self._run, params)

    async def aclose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


class FileConnector(Connector):
    """A lookup table loaded once: one row per key (the first wins)."""

    def __init__(self, spec: Mapping[str, Any], name: str, base_dir: str) -> None:
        self.spec = spec
        self.name = name
        self.path = Path(base_dir) / str(spec["path"])
        self._rows: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if self._rows is None:
                suffix = self.path.suffix.lower()
                try:
                    if suffix == ".parquet":
                        frame = pl.read_parquet(self.path)
                    elif suffix == ".csv":
                        frame = pl.read_csv(self.path, infer_schema_length=10_000)
                    else:
                        frame = pl.read_ndjson(self.path)
                except (OSError, pl.exceptions.PolarsError) as e:
                    raise _failure(ERROR, f"cannot read the lookup file "
                                                 f"({type(e).__name__})", retry=False) from None
                column = str(self.spec["key_column"])
                if column not in frame.columns:
                    raise _failure(ERROR, f"the lookup file has no column {column}",
                                        retry=False)
                rows: dict[str, dict[str, Any]] = {}
                for row in frame.iter_rows(named=True):
                    key = row[column]
                    if key is not None:
                        rows.setdefault(_text(key), row)
                self._rows = rows
            return self._rows

    async def fetch(self, params: Mapping[str, Any], timeout: float) -> Mapping[str, Any] | None:
        rows = self._rows if self._rows is not None else await asyncio.to_thread(self._load)
        keys = params["key"]
        for key in keys if isinstance(keys, tuple) else (keys,):
            hit = rows.get(_text(key))
            if hit is not None:
                return hit
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def make_connector(spec: Mapping[str, Any], name: str, base_dir: str) -> Connector | None:
    """The connector for a source's spec; None for data sent with the request."""
    kind = spec["type"]
    if kind == "http":
        return HttpConnector(spec, name)
    if kind == "sql":
        return SqlConnector(spec, name)
    if kind == "file":
        return FileConnector(spec, name, base_dir)
    return None
