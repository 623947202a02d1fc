"""The public surface is deliberate: adding or removing a name is a reviewed change."""

import fengkong
import fengkong.compile
import fengkong.engine
import fengkong.errors
import fengkong.strategy
import fengkong.testing


def test_top_level_exports():
    assert fengkong.__all__ == ["CompiledStrategy", "Decision", "FengkongError", "StrategySpec",
                                "__version__", "compile_strategy", "evaluate", "evaluate_batch",
                                "load_strategy"]
    for name in fengkong.__all__:
        assert getattr(fengkong, name) is not None


def test_subpackage_exports():
    assert fengkong.compile.__all__ == ["CompiledStrategy", "compile_strategy"]
    assert fengkong.engine.__all__ == ["Decision", "evaluate", "evaluate_batch"]
    assert fengkong.strategy.__all__ == ["LoadedStrategy", "ScorecardSpec", "StrategySpec",
                                         "load_scorecard", "load_strategy", "spec_digest",
                                         "strategy_json_schema"]
    assert fengkong.testing.__all__ == ["assert_rows_equal", "batch_frame", "records"]


def test_every_error_is_a_fengkong_error_with_a_code():
    errors = [fengkong.errors.SpecError, fengkong.errors.StrategyFileError,
              fengkong.errors.EvaluationError, fengkong.errors.InputValidationError,
              fengkong.errors.DataError]
    codes = [e.code for e in errors]
    assert len(set(codes)) == len(codes)
    for e in errors:
        assert issubclass(e, fengkong.errors.FengkongError)
        assert e.code == e.code.lower() and " " not in e.code
