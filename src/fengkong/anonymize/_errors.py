"""Exceptions of the anonymised export, each with a stable ``code``.

* FengkongError
  x AnonymizationError               ``ANON_ERROR``
    + AnonymizationConfigError       ``ANON_CONFIG_INVALID`` (also a SpecError; has diagnostics)
    + AnonymizationDataError         ``ANON_DATA_INVALID`` (also a DataError)
    + AnonymityNotMetError           the table cannot be made anonymous as asked
      + KAnonymityNotMetError        ``ANON_K_NOT_MET``
      + LDiversityNotMetError        ``ANON_L_NOT_MET``

The two refusal codes are the ones the anonymisation issue names (upper snake
case, like reason codes), so that scripts can match them; the others follow them.
Messages name columns and counts, never a value of the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from fengkong.errors import DataError, Diagnostic, FengkongError, SpecError


class AnonymizationError(FengkongError):
    """Root of the errors of :mod:`fengkong.anonymize`."""

    code: ClassVar[str] = "ANON_ERROR"


class AnonymizationConfigError(AnonymizationError, SpecError):
    """An anonymisation config file (or spec) is wrong; every problem is in ``diagnostics``.

    Each :class:`~fengkong.errors.Diagnostic` names the file, line, column and key path.
    """

    code: ClassVar[str] = "ANON_CONFIG_INVALID"

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        head = f"{len(self.diagnostics)} error(s) in anonymisation config"
        super().__init__(head + ":\n" + "\n".join(d.format() for d in self.diagnostics))


class AnonymizationDataError(AnonymizationError, DataError):
    """The table does not fit the config: a column is missing, of the wrong type or not covered."""

    code: ClassVar[str] = "ANON_DATA_INVALID"


@dataclass(frozen=True, slots=True)
class Achievable:
    """What the most general transformation (every quasi-identifier ``*``) achieves.

    Attributes
    ----------
    rows
        Rows in the table.
    k
        Size of the one equivalence class left (the number of rows).
    l
        Distinct target values in it (``None`` without a target); for entropy
        ℓ-diversity, ``exp`` of the target's entropy.
    suppressed_for_k
        Rows that would have to be suppressed for k-anonymity alone.
    max_suppressed
        Rows the suppression cap allows.
    """

    rows: int
    k: int
    l: float | None  # noqa: E741 - the ℓ of ℓ-diversity
    suppressed_for_k: int
    max_suppressed: int


class AnonymityNotMetError(AnonymizationError):
    """No generalisation of the quasi-identifiers meets the requirement; ``achievable`` says why."""

    code: ClassVar[str] = "ANON_NOT_MET"

    def __init__(self, message: str, achievable: Achievable) -> None:
        self.achievable = achievable
        super().__init__(message)


class KAnonymityNotMetError(AnonymityNotMetError):
    """k-anonymity cannot be met within the suppression cap, even at the top of the lattice."""

    code: ClassVar[str] = "ANON_K_NOT_MET"


class LDiversityNotMetError(AnonymityNotMetError):
    """ℓ-diversity of the target cannot be met within the suppression cap."""

    code: ClassVar[str] = "ANON_L_NOT_MET"
