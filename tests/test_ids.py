"""Snowflake ids and their times: pure logic, no engine."""
from datetime import datetime, timezone

import pytest

from chatsvc.ids import (EPOCH_MS, MAX_SEQUENCE, SEQUENCE_BITS, SnowflakeGenerator, format_time,
                         id_datetime, id_millis, id_month, id_time, millis_iso, parse_id)


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self):
        return self.t


def test_ids_strictly_increase_within_a_millisecond_and_when_the_clock_steps_back():
    clock = Clock(1_800_000_000.0)
    gen = SnowflakeGenerator(3, clock)
    ids = [gen.next_id() for _ in range(50)]
    clock.t -= 5.0                      # NTP steps the clock back
    ids += [gen.next_id() for _ in range(50)]
    clock.t += 10.0
    ids += [gen.next_id() for _ in range(50)]
    assert ids == sorted(set(ids))
    assert all((i >> SEQUENCE_BITS) & 0x3FF == 3 for i in ids)   # the worker number is kept


def test_an_exhausted_sequence_borrows_the_next_millisecond():
    clock = Clock(1_800_000_000.0)
    gen = SnowflakeGenerator(0, clock)
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 3)]
    assert ids == sorted(set(ids))
    assert id_millis(ids[-1]) == id_millis(ids[0]) + 1


def test_worker_number_is_checked():
    with pytest.raises(ValueError):
        SnowflakeGenerator(1024)
    with pytest.raises(ValueError):
        SnowflakeGenerator(-1)


@pytest.mark.parametrize("when", [
    "2024-01-01T00:00:00.000", "2024-02-29T23:59:59.999", "2026-11-30T09:15:02.123",
    "2026-12-31T23:59:59.999", "2027-01-01T00:00:00.001", "2099-06-15T12:00:00.500"])
def test_id_time_and_month_match_the_datetime_of_the_id(when):
    dt = datetime.fromisoformat(when).replace(tzinfo=timezone.utc)
    gen = SnowflakeGenerator(1, Clock(dt.timestamp()))
    sid = gen.next_id()
    assert id_time(sid) == format_time(id_datetime(sid)) == when + "Z"
    assert id_month(sid) == dt.strftime("%Y.%m")
    assert millis_iso(id_millis(sid)) == when + "Z"


def test_id_time_before_and_after_a_month_boundary_in_one_run():
    # The per-second cache must not leak one second's text into another.
    end = datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=timezone.utc)
    ms = int(end.timestamp() * 1000)
    assert millis_iso(ms) == "2026-11-30T23:59:59.999Z"
    assert millis_iso(ms + 1) == "2026-12-01T00:00:00.000Z"
    assert millis_iso(EPOCH_MS) == "2024-01-01T00:00:00.000Z"


@pytest.mark.parametrize("value, expected", [
    ("1", 1), ("18446744073709551615", None), ("9223372036854775807", 9223372036854775807),
    (42, 42), ("0", None), ("-1", None), ("", None), ("1e3", None), (" 1", None), ("١٢", None),
    (True, None), (None, None), ([1], None), (1.5, None), ("1" * 21, None)])
def test_parse_id_takes_only_positive_64_bit_decimal_ids(value, expected):
    assert parse_id(value) == expected


def test_id_at_keeps_the_given_time_and_orders_by_time_then_worker_then_sequence():
    from chatsvc.ids import id_at
    ms = 1_780_000_000_123
    a, b, c = id_at(ms, 1022, 5), id_at(ms, 1022, 6), id_at(ms + 1, 0, 0)
    assert id_millis(a) == ms and id_time(a) == millis_iso(ms)
    assert a < b < c
    assert (a >> SEQUENCE_BITS) & 0x3FF == 1022 and a & MAX_SEQUENCE == 5
    for bad in ((ms, 1024, 0), (ms, 0, MAX_SEQUENCE + 1), (EPOCH_MS - 1, 0, 0)):
        with pytest.raises(ValueError):
            id_at(*bad)
