"""Copying the example strategy pack (``strategy.yaml`` plus scorecards) into a directory."""

from __future__ import annotations

import shutil
from pathlib import Path

#: Name of the strategy file in a pack.
STRATEGY_FILE = "strategy.yaml"


def has_entries(directory: Path) -> bool:
    """Whether ``directory`` exists and holds anything.

    Parameters
    ----------
    directory
        The directory to look into.

    Returns
    -------
    bool
    """
    return directory.is_dir() and any(directory.iterdir())


def copy_pack(source: Path, target: Path) -> list[Path]:
    """Copy the pack in ``source`` into ``target``, overwriting files of the same name.

    Python package files, caches and hidden files are left out: the pack is data.

    Parameters
    ----------
    source
        The pack directory (from :func:`fengkong.demo.example_pack_dir`).
    target
        The destination directory; created if missing.

    Returns
    -------
    list of pathlib.Path
        The files written, relative to ``target``, sorted.

    Raises
    ------
    NotADirectoryError
        If ``target`` exists and is not a directory.
    FileNotFoundError
        If ``source`` is not a directory.
    """
    if not source.is_dir():
        msg = f"The example pack is missing: `{source}` is not a directory."
        raise FileNotFoundError(msg)
    if target.exists() and not target.is_dir():
        msg = f"`{target}` exists and is not a directory."
        raise NotADirectoryError(msg)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if not path.is_file() or _skip(rel):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Contents only: an installed package's permissions should not follow the copy.
        shutil.copyfile(path, dest)
        written.append(rel)
    return written


def _skip(rel: Path) -> bool:
    return rel.suffix == ".pyc" or any(
        part in ("__pycache__", "__init__.py") or part.startswith(".") for part in rel.parts
    )
