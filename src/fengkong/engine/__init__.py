"""Decide: one record online, or a whole table in batch, with the same compiled strategy."""

from fengkong.engine._decision import Decision
from fengkong.engine._evaluate import evaluate, evaluate_batch

__all__ = ["Decision", "evaluate", "evaluate_batch"]
