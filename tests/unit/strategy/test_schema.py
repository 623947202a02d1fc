"""The published JSON Schema (docs/strategy.schema.json) is the one the code generates."""

import json
from pathlib import Path

from fengkong.strategy import strategy_json_schema

PUBLISHED = Path(__file__).parents[3] / "docs" / "strategy.schema.json"


def test_published_schema_is_current():
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    assert published == strategy_json_schema(), (
        "docs/strategy.schema.json is stale: run `fengkong schema --output docs/strategy.schema.json`")


def test_schema_describes_the_top_level_keys():
    schema = strategy_json_schema()
    assert schema["title"] == "fengkong strategy"
    assert {"strategy", "version", "stage", "inputs", "rules", "tables", "segments",
            "experiments", "outcome", "scorecards", "models"} <= set(schema["properties"])
    assert set(schema["required"]) == {"strategy", "version", "stage", "inputs"}
