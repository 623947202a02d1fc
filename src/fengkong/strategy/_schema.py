"""The published JSON Schema of strategy files, for editors and CI validation."""

from __future__ import annotations

from typing import Any

from fengkong.strategy._spec import StrategySpec

SCHEMA_ID = "https://fengkong.dev/schema/strategy-v1.json"


def strategy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a strategy file."""
    schema = StrategySpec.model_json_schema(mode="validation")
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "fengkong strategy"}
