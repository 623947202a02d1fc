"""Data sources as strategy components: consent checked first, then concurrent fetches.

A strategy declares the sources it reads (``sources:``); the decision service asks the
consent registry before any call, fetches the permitted sources concurrently under the
strategy's deadline, and records every consent and call in the decision. See
``docs/sources.md``.
"""

from fengkong.sources._connectors import SourceFailure
from fengkong.sources._runtime import (
    ConsentAnswer,
    ConsentLookup,
    ConsentQuery,
    SourceResults,
    SourceRuntime,
)

__all__ = ["ConsentAnswer", "ConsentLookup", "ConsentQuery", "SourceFailure", "SourceResults",
           "SourceRuntime"]
