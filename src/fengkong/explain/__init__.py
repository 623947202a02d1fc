"""Plain-language explanations of decisions: the reason-code catalogue (Chinese and
English), which codes are generic summaries, and the statements an explanation carries.

The catalogue ships with the package (``catalogue.yaml``); a strategy adds or overrides
texts with its top-level ``reasons:`` key. See docs/explanations.md.
"""

from fengkong.explain._catalogue import (
    LANGS,
    MAX_REASONS,
    Catalogue,
    ReasonText,
    catalogue,
    customer_reasons,
    pick_language,
)

__all__ = [
    "LANGS",
    "MAX_REASONS",
    "Catalogue",
    "ReasonText",
    "catalogue",
    "customer_reasons",
    "pick_language",
]
