"""Synthetic demo data and the example strategy pack.

See :func:`generate_applications`, :func:`write_applications` and
:func:`example_strategy_path`.
"""

from fengkong.demo._data import COLUMNS, generate_applications, write_applications
from fengkong.demo._pack import example_pack_dir, example_record, example_strategy_path

__all__ = ["COLUMNS", "example_pack_dir", "example_record", "example_strategy_path",
           "generate_applications", "write_applications"]
