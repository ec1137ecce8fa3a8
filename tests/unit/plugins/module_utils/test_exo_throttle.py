"""Retry-After parsing and the adaptive concurrency policy."""
from __future__ import annotations

import email.utils
import time

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_throttle import (
    DECREASE_FACTOR,
    MAX_WAIT,
    AdaptiveConcurrency,
    CoolDown,
    RatePacer,
    backoff_delay,
    parse_retry_after,
)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize("value, expected", [("3", 3.0), ("0.5", 0.5), (None, 1.0), ("", 1.0), ("soon", 1.0),
                                             ("0", 0.1), ("100000", MAX_WAIT)])
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= parse_retry_after(in_ten) <= 10


def test_backoff_grows_and_is_capped():
    assert 0.25 <= backoff_delay(1) <= 0.5
    assert 2 <= backoff_delay(4) <= 4
    assert backoff_delay(50) <= 30


def test_concurrency_grows_one_per_clean_round():
    limiter = AdaptiveConcurrency(initial=4, maximum=6, clock=FakeClock())
    for dummy in range(4):
        limiter.record_clean()
    assert limiter.slots == 5
    for dummy in range(5):
        limiter.record_clean()
    assert limiter.slots == 6
    for dummy in range(50):
        limiter.record_clean()
    assert limiter.slots == 6
    assert limiter.peak == 6


def test_slow_start_doubles_per_round_until_the_first_throttle_then_grows_by_one_per_round():
    limiter = AdaptiveConcurrency(initial=4, maximum=32, clock=FakeClock(), slow_start=True)
    for dummy in range(4):  # one round of four clean batches
        limiter.record_clean()
    assert limiter.slots == 8
    for dummy in range(8):
        limiter.record_clean()
    assert limiter.slots == 16
    limiter.record_throttled()
    slots = limiter.slots
    assert slots == int(16 * DECREASE_FACTOR)
    for dummy in range(slots):
        limiter.record_clean()
    assert limiter.slots == slots + 1  # additive again, for good


def test_concurrency_shrinks_once_per_burst_and_never_below_minimum():
    clock = FakeClock()
    limiter = AdaptiveConcurrency(initial=16, maximum=32, cool_down=2.0, clock=clock)
    limiter.record_throttled()
    limiter.record_throttled()  # same burst: one signal
    assert limiter.slots == int(16 * DECREASE_FACTOR)
    clock.now += 3
    limiter.record_throttled()
    assert limiter.slots == int(16 * DECREASE_FACTOR ** 2)
    for dummy in range(20):
        clock.now += 3
        limiter.record_throttled()
    assert limiter.slots == 1
    clock.now += 3
    decreases = limiter.decreases
    limiter.record_throttled()
    assert limiter.decreases == decreases  # at the floor nothing shrinks


def test_cool_down_holds_one_class_only():
    clock = FakeClock()
    cool = CoolDown(clock=clock)
    cool.hold("write", 5)
    assert not cool.ready("write")
    assert cool.ready("read")
    assert cool.wait_time("write") == 5
    cool.hold("write", 1)  # a shorter hold never shortens a longer one
    assert cool.wait_time("write") == 5
    clock.now += 5
    assert cool.ready("write")


def test_pacer_is_off_until_the_first_429_then_paces_below_the_accepted_rate():
    clock = FakeClock()
    pacer = RatePacer(clock=clock, window=2.0, margin=0.9, growth=0.1)
    pacer.take(10)
    assert pacer.wait_time() == 0  # no pace before any throttling
    for dummy in range(20):  # 100 sub-requests/s accepted for two seconds
        clock.now += 0.1
        pacer.record_accepted(10)
    pacer.record_throttled()
    # 200 accepted since the first answer 1.9 s ago, paced at 90 % of that
    assert pacer.rate == pytest.approx(200 / 1.9 * 0.9)
    pacer.take(19)
    assert pacer.wait_time() == pytest.approx(19 / pacer.rate)


def test_pacer_grows_about_ten_percent_per_clean_second_and_shrinks_once_per_burst():
    clock = FakeClock()
    pacer = RatePacer(clock=clock, window=2.0, margin=1.0, growth=0.1, cool_down=2.0)
    for dummy in range(10):
        clock.now += 0.1
        pacer.record_accepted(10)
    pacer.record_throttled()
    measured = 100 / 0.9  # measured over the class's own age, 0.9 s, not the 2 s window
    assert pacer.rate == pytest.approx(measured)
    pacer.record_accepted(100)  # about a second's worth at this pace: +10 %
    assert pacer.rate == pytest.approx(measured + 10)
    pacer.record_throttled()  # same burst: ignored
    assert pacer.rate == pytest.approx(measured + 10)


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf", "inf"])
def test_retry_after_that_is_not_a_finite_number_is_ignored(value):
    assert parse_retry_after(value, default=2.0) == 2.0


def test_retry_after_may_be_decimal():
    assert parse_retry_after("0.75") == 0.75


def test_pacer_measures_the_budget_since_the_last_cut_and_ignores_429s_to_earlier_sends():
    clock = FakeClock()
    pacer = RatePacer(clock=clock, window=2.0, margin=1.0, growth=0.0, cool_down=2.0)
    for dummy in range(5):  # a burst: 500 accepted in half a second
        clock.now += 0.1
        pacer.record_accepted(100)
    assert pacer.record_throttled(sent_at=clock.now - 0.1)
    inflated = pacer.rate
    cut_at = clock.now
    clock.now += 0.05
    assert not pacer.record_throttled(sent_at=cut_at - 0.01)  # in flight before the cut: old news
    assert pacer.rate == inflated
    for dummy in range(20):  # the budget is 150/s: that is all it accepted since the cut
        clock.now += 0.1
        pacer.record_accepted(15)
    assert pacer.record_throttled(sent_at=clock.now - 0.05)
    assert pacer.rate == pytest.approx(300 / 2.05)
    clock.now += 0.1  # a 429 to a send after the cut, within the cool-down: one cut per cool-down
    assert not pacer.record_throttled(sent_at=clock.now - 0.05)
    assert pacer.rate == pytest.approx(300 / 2.05)


def test_pacer_cuts_again_before_the_cool_down_only_when_the_budget_is_plainly_empty():
    clock = FakeClock()
    pacer = RatePacer(clock=clock, window=2.0, margin=1.0, growth=0.0, cool_down=2.0)
    for dummy in range(5):
        clock.now += 0.1
        pacer.record_accepted(100)
    assert pacer.record_throttled(sent_at=clock.now)
    for dummy in range(6):  # 0.6 s: 60 accepted, 40 answered 429 (sent after the cut)
        clock.now += 0.1
        pacer.record_accepted(10)
        pacer.record_throttled(sent_at=clock.now - 0.05, count=0)
    assert pacer.record_throttled(sent_at=clock.now - 0.05, count=40)
    assert pacer.rate == pytest.approx(60 / 0.6)


def test_pacer_is_not_walked_down_by_a_few_random_429s():
    clock = FakeClock()
    pacer = RatePacer(clock=clock, window=2.0, margin=0.95, growth=0.05, cool_down=2.0)
    for dummy in range(10):
        clock.now += 0.1
        pacer.record_accepted(20)
    pacer.record_throttled(sent_at=clock.now)
    first = pacer.rate
    for dummy in range(100):  # ten seconds at the pace, one 429 in twenty answers
        clock.now += 0.1
        pacer.record_accepted(19)
        pacer.record_throttled(sent_at=clock.now - 0.05, count=1)
    assert pacer.rate > 0.8 * first
