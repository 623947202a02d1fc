"""The public surface of fengkong.anonymize and its error codes are deliberate."""

import fengkong.anonymize as anon
from fengkong.errors import DataError, FengkongError, SpecError


def test_exports() -> None:
    assert anon.__all__ == [
        "Achievable", "AnonymityCheck", "AnonymityNotMetError", "AnonymizationConfigError",
        "AnonymizationDataError", "AnonymizationError", "AnonymizationReport",
        "AnonymizationResult", "AnonymizationSpec", "BandsSpec", "CategoricalSpec", "DateSpec",
        "HierarchySpec", "KAnonymityNotMetError", "LDiversityNotMetError",
        "QuasiIdentifierLevel", "SizeBucket", "anonymize", "check", "load_anonymization_spec",
    ]
    for name in anon.__all__:
        assert getattr(anon, name) is not None


def test_error_codes_are_stable_and_rooted() -> None:
    codes = {
        anon.AnonymizationError: "ANON_ERROR",
        anon.AnonymizationConfigError: "ANON_CONFIG_INVALID",
        anon.AnonymizationDataError: "ANON_DATA_INVALID",
        anon.AnonymityNotMetError: "ANON_NOT_MET",
        anon.KAnonymityNotMetError: "ANON_K_NOT_MET",
        anon.LDiversityNotMetError: "ANON_L_NOT_MET",
    }
    for cls, code in codes.items():
        assert cls.code == code
        assert issubclass(cls, FengkongError)
    assert issubclass(anon.AnonymizationConfigError, SpecError)
    assert issubclass(anon.AnonymizationDataError, DataError)
