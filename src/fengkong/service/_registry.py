"""Strategy versions as the service runs them: packs unpacked, compiled once, routed.

A version is stored as its files (``{"entry": ..., "files": {path: text}}``); a
server unpacks it into a content-addressed folder under its data directory and
compiles it once (with personal data fields as pseudonyms). What is active for a
strategy is read from the database and kept for ``routing_ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from fengkong.compile import CompiledStrategy, compile_strategy
from fengkong.errors import Diagnostic, StrategyFileError
from fengkong.service._cache import TtlCache
from fengkong.service._errors import ApiError
from fengkong.store import Database, Deployment, releases

MAX_FILES = 64


@dataclass(frozen=True)
class Route:
    """What decides one request: the active version, and a candidate with its mode."""

    deployment: Deployment
    active: CompiledStrategy
    candidate: CompiledStrategy | None


def pack_files(root: Path, entry: str = "strategy.yaml") -> dict[str, Any]:
    """A pack on disk as the stored document: every text file under ``root``."""
    files = {p.relative_to(root).as_posix(): p.read_text("utf-8")
             for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}
    return {"entry": entry, "files": files}


def check_pack(doc: dict[str, Any]) -> None:
    """Refuse paths that could escape the pack's folder, and oversized packs."""
    files = doc["files"]
    if not files:
        raise ApiError(422, "invalid-request", "The pack has no files.",
                       [{"path": "$.files", "code": "empty", "message": "Give at least one file."}])
    if len(files) > MAX_FILES:
        raise ApiError(422, "invalid-request", f"A pack holds at most {MAX_FILES} files.",
                       [{"path": "$.files", "code": "too-many", "message": "Too many files."}])
    for name in files:
        p = PurePosixPath(name)
        if (not name or p.is_absolute() or ".." in p.parts or "\\" in name or "\x00" in name
                or len(name) > 200 or name != p.as_posix()):
            raise ApiError(422, "invalid-request", "A file path must be relative, inside the pack.",
                           [{"path": f"$.files[{name[:60]!r}]", "code": "bad-path",
                             "message": "Use a relative path without '..'."}])
    if doc["entry"] not in files:
        raise ApiError(422, "invalid-request", "The entry file is not in the pack.",
                       [{"path": "$.entry", "code": "entry-missing",
                         "message": "`entry` must name one of `files`."}])


class Registry:
    """Compiled versions and cached deployments for one server process."""

    def __init__(self, db: Database, data_dir: Path, routing_ttl: float) -> None:
        self.db = db
        self.packs = data_dir / "packs"
        self.routing_ttl = routing_ttl
        self._compiled: dict[tuple[str, str, str], CompiledStrategy] = {}
        self._by_content: dict[str, CompiledStrategy] = {}  # sha256 of the pack -> compiled
        self._routes: TtlCache[tuple[str, str], Route | None] = TtlCache(self._read_route, routing_ttl)
        self._lock = threading.Lock()

    # -- compiling ------------------------------------------------------------------------
    def compile_pack(self, doc: dict[str, Any]) -> CompiledStrategy:
        """Unpack and compile (once per content); file errors keep the pack's own names."""
        check_pack(doc)
        content = hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()
        found = self._by_content.get(content)
        if found is not None:
            return found
        folder = self._unpack(doc, content[:32])
        try:
            strategy = compile_strategy(folder / doc["entry"], pii_tokens=True)
        except StrategyFileError as e:
            raise _strategy_errors(e, folder) from None
        with self._lock:
            return self._by_content.setdefault(content, strategy)

    def _unpack(self, doc: dict[str, Any], name: str) -> Path:
        folder = self.packs / name
        if folder.exists():
            return folder
        self.packs.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.packs, prefix=".unpack-"))
        for path, text in doc["files"].items():
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:  # another worker unpacked the same pack first
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    def compiled(self, tenant: str, sid: str, version: str) -> CompiledStrategy:
        """A stored version, compiled (once per process)."""
        key = (tenant, sid, version)
        found = self._compiled.get(key)
        if found is not None:
            return found
        with self.db.reader.connect() as conn:
            stored = releases.version_files(conn, tenant, sid, version)
        if stored is None:
            raise ApiError(404, "not-found", "No such strategy version.")
        strategy = self.compile_pack(orjson.loads(stored[1]))
        with self._lock:
            return self._compiled.setdefault(key, strategy)

    # -- routing --------------------------------------------------------------------------
    def forget(self, tenant: str, sid: str) -> None:
        """Drop what this process knows of a deployment (after a release action here)."""
        self._routes.forget((tenant, sid))

    def _read_route(self, key: tuple[str, str]) -> Route | None:
        tenant, sid = key
        with self.db.reader.connect() as conn:
            dep = releases.deployment(conn, tenant, sid)
        if dep is None:
            return None
        cand = self.compiled(tenant, sid, dep.candidate_version) if dep.candidate_version else None
        return Route(dep, self.compiled(tenant, sid, dep.active_version), cand)

    def load_route(self, tenant: str, sid: str) -> Route | None:
        """Read the deployment and compile what it names, now (blocking)."""
        route = self._read_route((tenant, sid))
        self._routes.put((tenant, sid), route)
        return route

    async def route(self, tenant: str, sid: str) -> Route:
        """What decides for ``sid`` now; 404 when the tenant has no such deployed strategy."""
        route = await self._routes.get((tenant, sid))
        if route is None:
            raise ApiError(404, "unknown-strategy",
                           "No such deployed strategy: upload and approve a version first.")
        return route


def _strategy_errors(e: StrategyFileError, folder: Path) -> ApiError:
    problems = []
    for d in e.diagnostics:
        if d.severity != "error":
            continue
        problems.append(_diagnostic(d, folder))
    n = len(problems)
    return ApiError(422, "strategy-invalid", f"The strategy has {n} error{'s' * (n != 1)}.", problems)


def _diagnostic(d: Diagnostic, folder: Path) -> dict[str, Any]:
    file = d.file
    if file is not None:
        try:
            file = Path(file).resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            file = Path(file).name
    return {"path": f"$.files[{file!r}]" if file else "$", "file": file, "line": d.line,
            "column": d.column, "code": d.code, "message": d.message, "spec_path": d.path}
