"""Public test helpers: Hypothesis strategies for records, and decision comparison.

Requires ``hypothesis`` (installed with the ``dev`` extra).
"""

from fengkong.testing._compare import assert_rows_equal, batch_frame
from fengkong.testing._records import records

__all__ = ["assert_rows_equal", "batch_frame", "records"]
