"""Strategy files: the format (pydantic models), loading with positions, the JSON Schema."""

from fengkong.strategy._load import LoadedStrategy, load_scorecard, load_strategy, spec_digest
from fengkong.strategy._schema import strategy_json_schema
from fengkong.strategy._spec import ScorecardSpec, StrategySpec

__all__ = ["LoadedStrategy", "ScorecardSpec", "StrategySpec", "load_scorecard", "load_strategy",
           "spec_digest", "strategy_json_schema"]
