"""Small value types shared by every layer."""

from fengkong.core._clock import Clock, FixedClock, SystemClock

__all__ = ["Clock", "FixedClock", "SystemClock"]
