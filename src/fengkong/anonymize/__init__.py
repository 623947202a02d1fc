"""Anonymised exports for modelling: k-anonymity and ℓ-diversity by generalisation and suppression.

A config (:class:`AnonymizationSpec`, usually read from YAML with
:func:`load_anonymization_spec`) names the quasi-identifiers and how each one
generalises (numeric bands, category hierarchies, calendar periods, each topped by
``*``), the target whose values every class must mix, k, ℓ and the share of rows
that may be suppressed. :func:`anonymize` searches the full-domain generalisation
lattice for the least information loss that meets them, or refuses with
``ANON_K_NOT_MET`` / ``ANON_L_NOT_MET``; :func:`check` measures a table as it is.

.. versionadded:: 0.1
"""

from fengkong.anonymize._anonymize import AnonymizationResult, anonymize
from fengkong.anonymize._check import AnonymityCheck, check
from fengkong.anonymize._errors import (
    Achievable,
    AnonymityNotMetError,
    AnonymizationConfigError,
    AnonymizationDataError,
    AnonymizationError,
    KAnonymityNotMetError,
    LDiversityNotMetError,
)
from fengkong.anonymize._load import load_anonymization_spec
from fengkong.anonymize._report import AnonymizationReport, QuasiIdentifierLevel, SizeBucket
from fengkong.anonymize._spec import (
    AnonymizationSpec,
    BandsSpec,
    CategoricalSpec,
    DateSpec,
    HierarchySpec,
)

__all__ = [
    "Achievable",
    "AnonymityCheck",
    "AnonymityNotMetError",
    "AnonymizationConfigError",
    "AnonymizationDataError",
    "AnonymizationError",
    "AnonymizationReport",
    "AnonymizationResult",
    "AnonymizationSpec",
    "BandsSpec",
    "CategoricalSpec",
    "DateSpec",
    "HierarchySpec",
    "KAnonymityNotMetError",
    "LDiversityNotMetError",
    "QuasiIdentifierLevel",
    "SizeBucket",
    "anonymize",
    "check",
    "load_anonymization_spec",
]
