"""Time-ordered record ids (UUID version 7, RFC 9562) that also sort in creation order
within one process: ids made in the same millisecond count up in the 12 ``rand_a`` bits."""

from __future__ import annotations

import random
import threading
import time
import uuid

_rng = random.Random()  # seeded from the OS; ids must be unique, not secret
_lock = threading.Lock()
_last = [0, 0]  # millisecond, counter


def new_id() -> str:
    """A new UUIDv7: 48 bits of Unix milliseconds, a 12-bit counter, 62 random bits.

    >>> a, b = new_id(), new_id()
    >>> a < b and uuid.UUID(a).version == 7
    True
    """
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:  # same millisecond (or the clock stepped back): count on
            ms, counter = _last[0], _last[1] + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        else:
            counter = 0
        _last[0], _last[1] = ms, counter
    value = ((ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | _rng.getrandbits(62))
    return str(uuid.UUID(int=value))
