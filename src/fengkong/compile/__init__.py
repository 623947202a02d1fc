"""Compile a strategy once into a plan with an online and a batch backend."""

from fengkong.compile._compiled import CompiledStrategy, compile_strategy

__all__ = ["CompiledStrategy", "compile_strategy"]
