"""The clock is injected, never read from the environment, so decisions can be replayed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time (timezone-aware, UTC)."""

    def now(self) -> dt.datetime:
        """The current time."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> dt.datetime:
        """The current time."""
        return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock that always answers ``at`` (tests, replays, back-tests)."""

    at: dt.datetime

    def now(self) -> dt.datetime:
        """The fixed time."""
        return self.at
