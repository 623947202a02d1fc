"""The velocity tests' Redis: the machine's server on 127.0.0.1:6379, started if it is not
running. If it cannot be reached the tests fail; they are never skipped."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def _up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a running Redis (started with ``redis-server --daemonize yes`` if need be)."""
    if not _up() and shutil.which("redis-server"):
        subprocess.run(["redis-server", "--daemonize", "yes"], check=False, capture_output=True,
                       timeout=30)
        for _ in range(50):
            if _up():
                break
            time.sleep(0.1)
    if not _up():
        pytest.fail(f"Redis is not reachable at {REDIS_URL} and could not be started; the "
                    "velocity tests of the Redis store need it.")
    return REDIS_URL
