"""Exceptions raised by fengkong.

* FengkongError
  x SpecError                   (a strategy author's mistake; raised at load/compile time)
    + StrategyFileError         (one or more diagnostics, each with file, line and column)
  x EvaluationError             (a record could not be decided)
    + InputValidationError      (a field is missing, of the wrong type or out of range)
  x DataError                   (a batch input file or table cannot be read)

Every class carries a stable kebab-case ``code``. Messages about applicant data
name the field and what was expected, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a strategy file.

    Parameters
    ----------
    code
        Stable kebab-case code, e.g. ``"unknown-field"``.
    message
        What is wrong, and the fix where one can be suggested.
    path
        Spec path of the offending element, e.g. ``rules[3].when``.
    file, line, column
        Where it is (1-based line and column); ``None`` when unknown.
    severity
        ``"error"`` stops compilation, ``"warning"`` does not.
    """

    code: str
    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"

    def format(self) -> str:
        """Render as ``file:line:col: severity[code] message (at path)``."""
        where = self.file or "<strategy>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        at = f" (at {self.path})" if self.path else ""
        return f"{where}: {self.severity}[{self.code}] {self.message}{at}"


class FengkongError(Exception):
    """Root of every exception fengkong raises."""

    code: ClassVar[str] = "fengkong-error"


class SpecError(FengkongError):
    """A strategy or artifact file is wrong; raised when loading or compiling."""

    code: ClassVar[str] = "spec-error"


class StrategyFileError(SpecError):
    """A strategy file has one or more errors; all of them are in ``diagnostics``."""

    code: ClassVar[str] = "strategy-invalid"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        head = f"{len(errors)} error(s) in strategy"
        super().__init__(head + ":\n" + "\n".join(d.format() for d in self.diagnostics))


class EvaluationError(FengkongError):
    """A record could not be decided."""

    code: ClassVar[str] = "evaluation-error"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one input field: never holds the offending value."""

    field: str
    code: str
    message: str


class InputValidationError(EvaluationError):
    """A record is missing a required field, has a wrong type or is out of range.

    ``problems`` lists every bad field; messages never echo the value.
    """

    code: ClassVar[str] = "input-invalid"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        super().__init__(" ".join(p.message for p in self.problems))


class DataError(FengkongError):
    """A batch input cannot be read or does not fit the strategy."""

    code: ClassVar[str] = "data-invalid"


@dataclass
class DiagnosticSink:
    """Collects diagnostics so that every problem in a file is reported at once."""

    file: str | None = None
    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        """Record a diagnostic."""
        self.items.append(diagnostic)

    @property
    def has_errors(self) -> bool:
        """Whether any error (not warning) was recorded."""
        return any(d.severity == "error" for d in self.items)

    def raise_for_errors(self) -> None:
        """Raise :class:`StrategyFileError` if any error was recorded."""
        if self.has_errors:
            raise StrategyFileError(sorted(self.items, key=_position))


def _position(d: Diagnostic) -> tuple[str, int, int]:
    return (d.file or "", d.line or 0, d.column or 0)
