"""fengkong: a modular credit-risk decision platform.

Write a strategy file, compile it once, and decide one record online or a whole
table in batch with the same plan.
"""

from fengkong._version import __version__
from fengkong.compile import CompiledStrategy, compile_strategy
from fengkong.engine import Decision, evaluate, evaluate_batch
from fengkong.errors import FengkongError
from fengkong.strategy import StrategySpec, load_strategy

__all__ = ["CompiledStrategy", "Decision", "FengkongError", "StrategySpec", "__version__",
           "compile_strategy", "evaluate", "evaluate_batch", "load_strategy"]
