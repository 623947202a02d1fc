"""The compiled strategy: a frozen plan plus its two backends, built once per version."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fengkong.compile._lower import lower_or_raise
from fengkong.compile._online import OnlineFn, build_online
from fengkong.compile.ir import Plan
from fengkong.errors import Diagnostic
from fengkong.strategy._load import LoadedStrategy, load_strategy
from fengkong.strategy._spec import StrategySpec


@dataclass(frozen=True)
class CompiledStrategy:
    """A strategy ready to decide; share one instance across requests and threads.

    Attributes
    ----------
    plan
        The backend-neutral plan.
    spec
        The validated strategy spec (scorecard files inlined).
    digest
        ``sha256:...`` of the canonical spec (and of the model files it runs): what
        every decision records.
    warnings
        Lint findings that did not stop compilation.
    """

    plan: Plan
    spec: StrategySpec
    digest: str
    warnings: tuple[Diagnostic, ...]
    source: str | None = None
    online: OnlineFn = field(repr=False, default=None)  # type: ignore[assignment]
    online_source: str = field(repr=False, default="")
    column_index: dict[str, int] = field(repr=False, default_factory=dict)
    columns: tuple[str, ...] = field(repr=False, default=())  # output column names, in order
    batch_cache: dict[object, Any] = field(repr=False, default_factory=dict, compare=False)

    @property
    def strategy_id(self) -> str:
        """The strategy's id."""
        return self.plan.strategy_id

    @property
    def version(self) -> str:
        """The strategy's version, as text."""
        return self.plan.version


def compile_strategy(strategy: str | Path | LoadedStrategy, *,
                     pii_tokens: bool = False) -> CompiledStrategy:
    """Load (if given a path), check and compile a strategy.

    Parameters
    ----------
    strategy
        A strategy file path, or what :func:`~fengkong.strategy.load_strategy` returned.
    pii_tokens
        Personal data fields (``pii:``) arrive already replaced by pseudonyms: they are
        typed as plain strings without length, range or value constraints, so a
        strategy can use them only as keys (experiments) and for equality. The
        decision service compiles this way; an expression that treats such a field as
        a number or date is reported as a type error.

    Returns
    -------
    CompiledStrategy

    Raises
    ------
    StrategyFileError
        Listing every error in the file(s), each with file, line and column.

    Examples
    --------
    >>> from fengkong import compile_strategy, evaluate
    >>> from fengkong.demo import example_strategy_path
    >>> strategy = compile_strategy(example_strategy_path())
    >>> strategy.strategy_id
    'consumer_loan'
    """
    loaded = strategy if isinstance(strategy, LoadedStrategy) else load_strategy(strategy, recover=True)
    plan, sink = lower_or_raise(loaded, pii_tokens=pii_tokens)
    online, source = build_online(plan)
    warnings = tuple(d for d in sink.items if d.severity == "warning")
    index = {c.name: i for i, c in enumerate(plan.columns)}
    return CompiledStrategy(plan=plan, spec=loaded.spec, digest=plan.digest, warnings=warnings,
                            source=loaded.source.file, online=online, online_source=source,
                            column_index=index, columns=tuple(index))
