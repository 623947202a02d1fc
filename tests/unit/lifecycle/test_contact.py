"""The contact-policy guard: one test per rule, each failing if the rule stopped blocking."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from fengkong.lifecycle._contact import GUARD_RULES, ContactPolicy, guard_contacts

UTC = dt.UTC


def accounts(**over: object) -> pl.DataFrame:
    row: dict[str, object] = {"account_id": "A1", "timezone": "Asia/Shanghai",
                              "phone_pseudonym": "ph1", "contact_opt_out_sms": False,
                              "contact_opt_out_call": False, "contact_opt_out_visit": False}
    row.update(over)
    return pl.DataFrame([row]).with_columns(
        pl.col("contact_opt_out_sms", "contact_opt_out_call", "contact_opt_out_visit")
        .cast(pl.Boolean))


def shanghai(hour: int, minute: int = 0, day: int = 20) -> dt.datetime:
    """A UTC instant that is hour:minute in Shanghai (UTC+8) on 2025-03-day."""
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC) - dt.timedelta(hours=8)


def proposed(times: list[dt.datetime], channel: str = "call", **cols: list[object]
             ) -> pl.DataFrame:
    frame = pl.DataFrame({"account_id": ["A1"] * len(times), "channel": [channel] * len(times),
                          "scheduled_at": times},
                         schema_overrides={"scheduled_at": pl.Datetime("us", "UTC")})
    return frame.with_columns(**{k: pl.Series(v) for k, v in cols.items()})


def rules(result_blocked: pl.DataFrame) -> list[str]:
    return result_blocked["blocked_rule"].to_list()


def test_rules_are_listed_in_check_order() -> None:
    assert GUARD_RULES == ("third_party", "opted_out", "local_hours", "frequency_cap")


# -- local hours ---------------------------------------------------------------------------


def test_local_hours_boundaries_by_the_accounts_time_zone() -> None:
    times = [shanghai(7, 59), shanghai(8, 0), shanghai(20, 59), shanghai(21, 0), shanghai(23)]
    res = guard_contacts(proposed(times, channel="sms"), accounts=accounts())
    assert res.allowed["scheduled_at"].to_list() == [shanghai(8, 0), shanghai(20, 59)]
    assert rules(res.blocked) == ["local_hours"] * 3
    assert res.blocked["blocked_detail"][0].startswith("local time 07:59")


def test_the_same_instant_is_allowed_in_one_zone_and_blocked_in_another() -> None:
    at = shanghai(10)  # 10:00 Shanghai is 22:00 the day before in New York
    assert len(guard_contacts(proposed([at]), accounts=accounts()).allowed) == 1
    ny = guard_contacts(proposed([at]), accounts=accounts(timezone="America/New_York"))
    assert rules(ny.blocked) == ["local_hours"]


def test_unknown_time_zone_is_blocked() -> None:
    res = guard_contacts(proposed([shanghai(10)]), accounts=accounts(timezone="Mars/Olympus"))
    assert rules(res.blocked) == ["local_hours"]
    res = guard_contacts(proposed([shanghai(10)]), accounts=accounts(timezone=None))
    assert rules(res.blocked) == ["local_hours"]


def test_no_proposed_contact_and_no_known_zone_give_one_local_time_per_row() -> None:
    from fengkong.lifecycle._contact import local_times

    none = proposed([]).with_columns(pl.col("account_id", "channel").cast(pl.String))
    empty = guard_contacts(none, accounts=accounts())
    assert empty.allowed.height == 0 and empty.blocked.height == 0
    unknown = proposed([shanghai(10), shanghai(11)]).with_columns(pl.lit(None, pl.String).alias("timezone"))
    assert local_times(unknown).to_list() == [None, None]
    res = guard_contacts(proposed([shanghai(10), shanghai(11)]), accounts=accounts(timezone="Mars/Olympus"))
    assert rules(res.blocked) == ["local_hours", "local_hours"]


def test_custom_hours_and_naive_times_read_as_utc() -> None:
    policy = ContactPolicy(start=dt.time(9), end=dt.time(18))
    naive = [shanghai(8, 30).replace(tzinfo=None), shanghai(9, 30).replace(tzinfo=None)]
    frame = pl.DataFrame({"account_id": ["A1", "A1"], "channel": ["sms", "sms"],
                          "scheduled_at": naive})
    res = guard_contacts(frame, accounts=accounts(), policy=policy)
    assert len(res.allowed) == 1
    assert rules(res.blocked) == ["local_hours"]
    with pytest.raises(ValueError, match="start"):
        ContactPolicy(start=dt.time(21), end=dt.time(8))


def test_letters_are_not_bound_to_hours() -> None:
    res = guard_contacts(proposed([shanghai(3)], channel="letter"), accounts=accounts())
    assert len(res.allowed) == 1


# -- frequency cap -------------------------------------------------------------------------


def past_calls(n: int, *, days_ago: float = 1.0, channel: str = "call") -> pl.DataFrame:
    at = shanghai(10) - dt.timedelta(days=days_ago)
    return pl.DataFrame({"account_id": ["A1"] * n, "channel": [channel] * n,
                         "attempted_at": [at - dt.timedelta(minutes=i) for i in range(n)]})


def test_frequency_cap_blocks_the_eighth_call_in_seven_days() -> None:
    res = guard_contacts(proposed([shanghai(10)]), accounts=accounts(), contacts=past_calls(7))
    assert rules(res.blocked) == ["frequency_cap"]
    assert "7 call attempts" in res.blocked["blocked_detail"][0]
    res = guard_contacts(proposed([shanghai(10)]), accounts=accounts(), contacts=past_calls(6))
    assert len(res.allowed) == 1


def test_frequency_cap_window_and_channels() -> None:
    old = past_calls(7, days_ago=7.01)       # just outside the 7-day window
    assert len(guard_contacts(proposed([shanghai(10)]), accounts=accounts(),
                              contacts=old).allowed) == 1
    sms = past_calls(7, channel="sms")       # SMS are not call attempts
    assert len(guard_contacts(proposed([shanghai(10)]), accounts=accounts(),
                              contacts=sms).allowed) == 1
    other = past_calls(7).with_columns(account_id=pl.lit("B2"))   # per debt
    assert len(guard_contacts(proposed([shanghai(10)]), accounts=accounts(),
                              contacts=other).allowed) == 1
    # An SMS is never capped by the call count.
    assert len(guard_contacts(proposed([shanghai(10)], channel="sms"), accounts=accounts(),
                              contacts=past_calls(9)).allowed) == 1


def test_frequency_cap_counts_calls_planned_in_the_same_batch() -> None:
    times = [shanghai(9), shanghai(10), shanghai(11)]
    res = guard_contacts(proposed(times), accounts=accounts(), contacts=past_calls(5))
    assert res.allowed["scheduled_at"].to_list() == [shanghai(9), shanghai(10)]
    assert rules(res.blocked) == ["frequency_cap"]
    capped = guard_contacts(proposed(times), accounts=accounts(),
                            policy=ContactPolicy(max_call_attempts=1))
    assert len(capped.allowed) == 1


# -- opt-outs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "flag"), [("sms", "contact_opt_out_sms"),
                                               ("call", "contact_opt_out_call"),
                                               ("visit", "contact_opt_out_visit")])
def test_opted_out_channel_is_blocked(channel: str, flag: str) -> None:
    res = guard_contacts(proposed([shanghai(10)], channel=channel),
                         accounts=accounts(**{flag: True}))
    assert rules(res.blocked) == ["opted_out"]
    others = [c for c in ("sms", "call", "visit") if c != channel]
    for other in others:
        ok = guard_contacts(proposed([shanghai(10)], channel=other),
                            accounts=accounts(**{flag: True}))
        assert len(ok.allowed) == 1


def test_unknown_opt_out_counts_as_opted_out() -> None:
    res = guard_contacts(proposed([shanghai(10)], channel="call"),
                         accounts=accounts(contact_opt_out_call=None))
    assert rules(res.blocked) == ["opted_out"]


# -- third parties -------------------------------------------------------------------------


def test_third_party_recipient_is_blocked() -> None:
    frame = proposed([shanghai(10), shanghai(11)], recipient=["guarantor", "debtor"])
    res = guard_contacts(frame, accounts=accounts())
    assert rules(res.blocked) == ["third_party"]
    assert res.blocked["recipient"].to_list() == ["guarantor"]
    assert len(res.allowed) == 1
    missing = proposed([shanghai(10)], recipient=[None])
    assert rules(guard_contacts(missing, accounts=accounts()).blocked) == ["third_party"]


def test_another_phone_is_a_third_party() -> None:
    frame = proposed([shanghai(10), shanghai(11)], phone_pseudonym=["ph_other", "ph1"])
    res = guard_contacts(frame, accounts=accounts())
    assert rules(res.blocked) == ["third_party"]
    assert res.blocked["blocked_detail"][0] == "phone is not the debtor's"


def test_the_first_blocking_rule_is_logged() -> None:
    frame = proposed([shanghai(3)], recipient=["relative"])
    res = guard_contacts(frame, accounts=accounts(contact_opt_out_call=True),
                         contacts=past_calls(9))
    assert rules(res.blocked) == ["third_party"]
    res = guard_contacts(proposed([shanghai(3)]), accounts=accounts(contact_opt_out_call=True))
    assert rules(res.blocked) == ["opted_out"]
