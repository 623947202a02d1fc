"""Small value types shared by every layer."""

from fengkong.core._clock import Clock, FixedClock, SystemClock
from fengkong.core._records import MISSING, field_value

__all__ = ["MISSING", "Clock", "FixedClock", "SystemClock", "field_value"]
