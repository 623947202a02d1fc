"""The expression language: parse and type-check once, compile for both backends."""

from fengkong.expr._check import ExprError, ExprProblem, check_expression, suggest
from fengkong.expr.ast import Info
from fengkong.expr.functions import FUNCTIONS

__all__ = ["FUNCTIONS", "ExprError", "ExprProblem", "Info", "check_expression", "suggest"]
