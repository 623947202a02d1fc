"""The reason-code catalogue, read once from the package's ``catalogue.yaml``."""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

LANGS = ("zh", "en")
MAX_REASONS = 4
_CODE = re.compile(r"[A-Z][A-Z0-9_]*")

# A strategy's ``reasons:``: code -> language -> text.
Overrides = Mapping[str, Mapping[Any, str]]


@dataclass(frozen=True, slots=True)
class ReasonText:
    """The texts of one code and whether it is a generic summary (never a customer reason)."""

    zh: str
    en: str
    generic: bool = False

    def get(self, lang: str) -> str:
        """The text in ``lang`` (``zh`` or ``en``)."""
        return self.en if lang == "en" else self.zh


class Catalogue:
    """Reason code -> texts, plus the fixed statements of an explanation."""

    def __init__(self, codes: Mapping[str, ReasonText],
                 statements: Mapping[str, Mapping[str, str]]) -> None:
        self.codes = dict(codes)
        self.statements = {k: dict(v) for k, v in statements.items()}

    def is_generic(self, code: str) -> bool:
        """Whether ``code`` only summarises (a score below a cut-off, "other")."""
        entry = self.codes.get(code)
        return entry is not None and entry.generic

    def has_text(self, code: str, overrides: Overrides | None = None) -> bool:
        """Whether ``code`` has a text here or in the strategy's ``reasons:``."""
        return code in self.codes or bool(overrides and overrides.get(code))

    def text(self, code: str, lang: str, overrides: Overrides | None = None) -> str:
        """The customer-facing text of ``code`` in ``lang``.

        The strategy's text in ``lang`` first, then the catalogue's, then either in the
        other language, then a neutral "no description" text (never the code alone).
        """
        other = "en" if lang == "zh" else "zh"
        own = (overrides or {}).get(code) or {}
        entry = self.codes.get(code)
        for candidate in (own.get(lang), entry.get(lang) if entry else None,
                          own.get(other), entry.get(other) if entry else None):
            if candidate:
                return candidate
        return self.statement("no_text", lang)

    def statement(self, name: str, lang: str) -> str:
        """One of the fixed statements (``review_right``, ``under_review``, ...)."""
        return self.statements[name]["en" if lang == "en" else "zh"]


def _load(data: Mapping[str, Any]) -> Catalogue:
    codes: dict[str, ReasonText] = {}
    for code, entry in data["codes"].items():
        if not _CODE.fullmatch(code) or not entry.get("zh") or not entry.get("en"):
            msg = f"catalogue entry {code!r} needs an UPPER_SNAKE_CASE code and zh and en texts"
            raise ValueError(msg)
        codes[code] = ReasonText(zh=str(entry["zh"]).strip(), en=str(entry["en"]).strip(),
                                 generic=bool(entry.get("generic", False)))
    statements = {name: {lang: str(texts[lang]).strip() for lang in LANGS}
                  for name, texts in data["statements"].items()}
    return Catalogue(codes, statements)


@functools.cache
def catalogue() -> Catalogue:
    """The package's catalogue (read once per process)."""
    text = importlib.resources.files("fengkong.explain").joinpath("catalogue.yaml").read_text(
        encoding="utf-8")
    return _load(yaml.safe_load(text))


def customer_reasons(codes: Iterable[str], *, limit: int = MAX_REASONS) -> list[str]:
    """The reasons a customer is given: the specific codes, in rank order, at most ``limit``.

    Generic summary codes are left out while a specific one remains; if a decision has
    only generic codes, they are given rather than nothing.
    """
    cat = catalogue()
    ranked = list(dict.fromkeys(codes))
    specific = [c for c in ranked if not cat.is_generic(c)]
    return (specific or ranked)[:limit]


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """``zh`` or ``en``: the one asked for, else the best of ``Accept-Language``, else zh."""
    if requested in LANGS:
        return requested
    best, best_q = None, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if lang in LANGS and q > best_q:
            best, best_q = lang, q
    return best or "zh"
