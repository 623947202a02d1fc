"""Batch experiment hashing equals zlib's CRC-32 used online, for any text."""

import random
import string

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fengkong.compile._hash import BUCKETS, bucket, buckets, prefix_state


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=60), st.text(max_size=12))
def test_vectorised_buckets_equal_zlib(keys, experiment):
    state = prefix_state(experiment)
    got = buckets(pl.Series("k", keys, dtype=pl.String), state).to_list()
    assert got == [None if k is None else bucket(k, state) for k in keys]


def test_int_keys_hash_as_their_decimal_text():
    state = prefix_state("apr_test")
    keys = [0, -7, 2**53, None]
    got = buckets(pl.Series("k", keys, dtype=pl.Int64), state).to_list()
    assert got == [None if k is None else bucket(str(k), state) for k in keys]


def test_buckets_spread_evenly():
    rng = random.Random(0)
    keys = ["".join(rng.choices(string.digits, k=18)) for _ in range(20_000)]
    got = buckets(pl.Series("k", keys), prefix_state("split")).to_numpy()
    assert got.min() >= 0
    assert got.max() < BUCKETS
    share = (got < BUCKETS // 10).mean()  # a 10 % arm
    assert 0.09 < share < 0.11
