"""Anonymisation configs: the YAML form, hierarchy files, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengkong.anonymize import (
    AnonymizationConfigError,
    AnonymizationSpec,
    BandsSpec,
    CategoricalSpec,
    DateSpec,
    load_anonymization_spec,
)
from fengkong.errors import Diagnostic, SpecError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "anonymize" / "consumer_loan.yaml"


def write(tmp_path: Path, text: str, name: str = "anon.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(path: Path) -> list[Diagnostic]:
    with pytest.raises(AnonymizationConfigError) as info:
        load_anonymization_spec(path)
    assert info.value.code == "ANON_CONFIG_INVALID"
    assert isinstance(info.value, SpecError)
    return list(info.value.diagnostics)


def only(path: Path) -> Diagnostic:
    found = errors(path)
    assert len(found) == 1, found
    return found[0]


def test_the_example_config_loads() -> None:
    spec = load_anonymization_spec(EXAMPLE)
    assert (spec.k, spec.l, spec.max_suppression, spec.target) == (5, 2, 0.05, "bad")
    province = spec.quasi_identifiers["applicant.province"]
    assert isinstance(province, CategoricalSpec)
    assert province.level_names() == ("as is", "region", "*")
    assert province.levels[0]["GD"] == "south"
    assert spec.lattice_size == 5 * 5 * 3 * 3 * 3
    assert "applicant.id_number" in spec.identifiers


def test_minimal_config_defaults(tmp_path: Path) -> None:
    spec = load_anonymization_spec(write(tmp_path, "quasi_identifiers:\n  d: {type: date}\n"))
    assert (spec.k, spec.l, spec.max_suppression, spec.target) == (5, 2, 0.05, None)
    hierarchy = spec.quasi_identifiers["d"]
    assert isinstance(hierarchy, DateSpec)
    assert hierarchy.level_names() == ("as is", "month", "year", "*")


def test_unknown_key_is_located_and_a_fix_suggested(tmp_path: Path) -> None:
    text = "k: 5\nquasi_identifier:\n  age: {type: bands, widths: [10]}\n"
    found = errors(write(tmp_path, text))
    unknown = next(d for d in found if d.code == "unknown-key")
    assert (unknown.line, unknown.column) == (2, 1)
    assert "Did you mean `quasi_identifiers`?" in unknown.message
    assert unknown.file == str(tmp_path / "anon.yaml")
    assert any(d.code == "missing-key" and d.path == "quasi_identifiers" for d in found)


def test_unknown_key_inside_a_hierarchy(tmp_path: Path) -> None:
    text = "quasi_identifiers:\n  age:\n    type: bands\n    width: [10]\n"
    found = errors(write(tmp_path, text))
    unknown = next(d for d in found if d.code == "unknown-key")
    assert unknown.path == "quasi_identifiers.age.width"
    assert (unknown.line, unknown.column) == (4, 5)
    assert "Did you mean `widths`?" in unknown.message


def test_widths_that_do_not_nest(tmp_path: Path) -> None:
    text = "quasi_identifiers:\n  age:\n    type: bands\n    widths: [5, 12]\n"
    d = only(write(tmp_path, text))
    assert d.code == "invalid-value"
    assert d.path == "quasi_identifiers.age.widths"
    assert d.line == 4
    assert "whole multiple" in d.message
    assert d.format().startswith(f"{tmp_path / 'anon.yaml'}:4:13: error[invalid-value]")


def test_cuts_that_do_not_nest(tmp_path: Path) -> None:
    text = "quasi_identifiers:\n  income:\n    type: bands\n    cuts: [[1000, 2000], [1500]]\n"
    d = only(write(tmp_path, text))
    assert d.path == "quasi_identifiers.income.cuts"
    assert "proper subset of `cuts[0]`" in d.message


def test_bands_need_widths_or_cuts(tmp_path: Path) -> None:
    d = only(write(tmp_path, "quasi_identifiers:\n  age: {type: bands}\n"))
    assert d.path == "quasi_identifiers.age"
    assert "either `widths` or `cuts`" in d.message


def test_missing_or_unknown_hierarchy_type(tmp_path: Path) -> None:
    d = only(write(tmp_path, "quasi_identifiers:\n  age: {widths: [10]}\n"))
    assert d.code == "missing-key"
    assert "`type`" in d.message and "bands, categorical, date" in d.message
    d = only(write(tmp_path, "quasi_identifiers:\n  age: {type: band, widths: [10]}\n"))
    assert d.path == "quasi_identifiers.age.type"
    assert d.line == 2


def test_a_categorical_level_must_cover_the_level_below(tmp_path: Path) -> None:
    text = ("quasi_identifiers:\n  city:\n    type: categorical\n    levels:\n"
            "      - {gz: GD, sz: GD, hz: ZJ}\n      - {GD: south}\n")
    d = only(write(tmp_path, text))
    assert d.path == "quasi_identifiers.city.levels"
    assert "no entry for `ZJ`" in d.message


def test_a_column_has_one_role(tmp_path: Path) -> None:
    text = "target: age\nquasi_identifiers:\n  age: {type: bands, widths: [10]}\n"
    d = only(write(tmp_path, text))
    assert d.path == "target"
    assert (d.line, d.column) == (1, 9)
    assert "also in quasi_identifiers" in d.message


@pytest.mark.parametrize(
    ("line", "path", "fragment"),
    [
        ("k: 0", "k", "greater than or equal to 1"),
        ("max_suppression: 1.5", "max_suppression", "less than or equal to 1"),
        ("diversity: recursive", "diversity", "'distinct' or 'entropy'"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, line: str, path: str, fragment: str) -> None:
    d = only(write(tmp_path, f"{line}\nquasi_identifiers:\n  a: {{type: date}}\n"))
    assert d.path == path
    assert d.line == 1
    assert fragment in d.message


def test_hierarchy_from_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "cities.csv").write_text(
        "city,province,region\ngz,GD,south\nsz,GD,south\nhz,ZJ,east\n", encoding="utf-8")
    text = "quasi_identifiers:\n  city: {type: categorical, file: cities.csv}\n"
    spec = load_anonymization_spec(write(tmp_path, text))
    city = spec.quasi_identifiers["city"]
    assert isinstance(city, CategoricalSpec)
    assert city.levels == ({"gz": "GD", "sz": "GD", "hz": "ZJ"}, {"GD": "south", "ZJ": "east"})
    assert city.level_names() == ("as is", "province", "region", "*")


def test_a_missing_hierarchy_file_is_reported_where_it_is_named(tmp_path: Path) -> None:
    text = "quasi_identifiers:\n  city:\n    type: categorical\n    file: nowhere.csv\n"
    d = only(write(tmp_path, text))
    assert d.code == "file-unreadable"
    assert d.path == "quasi_identifiers.city.file"
    assert (d.line, d.column) == (4, 11)
    assert "nowhere.csv" in d.message


def test_a_value_with_two_parents_in_a_hierarchy_file(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("city,province\ngz,GD\ngz,ZJ\n", encoding="utf-8")
    d = only(write(tmp_path, "quasi_identifiers:\n  city: {type: categorical, file: h.csv}\n"))
    assert "line 3" in d.message and "two parents" in d.message


def test_file_and_levels_together(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("city,province\ngz,GD\n", encoding="utf-8")
    text = "quasi_identifiers:\n  city: {type: categorical, file: h.csv, levels: [{gz: GD}]}\n"
    assert "either `file` or `levels`" in only(write(tmp_path, text)).message


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    d = only(write(tmp_path, "quasi_identifiers:\n  age: {type: bands\n"))
    assert d.code == "yaml-syntax"
    assert d.line is not None


def test_a_config_must_be_a_mapping(tmp_path: Path) -> None:
    assert only(write(tmp_path, "- 1\n")).code == "spec-not-mapping"


def test_missing_file(tmp_path: Path) -> None:
    assert only(tmp_path / "absent.yaml").code == "file-not-found"


def test_a_huge_lattice_is_refused() -> None:
    many = {f"q{i}": {"type": "bands", "widths": [1, 2, 4, 8, 16, 32]} for i in range(8)}
    with pytest.raises(ValueError, match="generalisation lattice has"):
        AnonymizationSpec.model_validate({"quasi_identifiers": many})


def test_specs_are_frozen() -> None:
    spec = BandsSpec(type="bands", widths=(10,))
    with pytest.raises(ValueError, match="frozen"):
        spec.origin = 5  # type: ignore[misc]
