# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retry and concurrency policy for the Exchange Online admin API.

Every policy decision lives here: how long to wait before a retry, how to read
Retry-After, and how many batches may be in flight. Exchange Online publishes no
throttling budget, so concurrency is found at run time: grow while requests come back
clean, shrink when the tenant answers 429 (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections import deque

# Sends of one call before a transient error (5xx, dropped connection, a malformed answer)
# is final: Microsoft's own module gives up after about five.
MAX_TRANSIENT_ATTEMPTS = 5
# Attempts per request that may be answered 429 before giving up on it.
MAX_THROTTLED_ATTEMPTS = 30
# How much the concurrency shrinks on throttling. Gentler than halving: a token-bucket
# budget is used fully as long as the offered rate stays above it.
DECREASE_FACTOR = 0.7
# Longest single wait we accept from Retry-After or backoff, in seconds.
MAX_WAIT = 120.0


def parse_retry_after(value, default=1.0):
    """Return the wait in seconds that a Retry-After header asks for.

    The header is either a number of seconds (decimals allowed) or an HTTP date; anything
    unreadable or not finite (NaN, Infinity) falls back to ``default``. The result is
    clamped to [0.1, MAX_WAIT].
    """
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            seconds = email.utils.parsedate_to_datetime(str(value)).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            seconds = default
    if not math.isfinite(seconds):
        seconds = default
    return min(max(seconds, 0.1), MAX_WAIT)


def backoff_delay(attempt, base=0.5, cap=30.0):
    """Exponential backoff with full jitter for the given 1-based attempt number."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


class AdaptiveConcurrency:
    """How many batches may be in flight at once (AIMD).

    ``limit`` grows by one after a full round of clean batches (one per slot), and
    shrinks by DECREASE_FACTOR on throttling, at most once per ``cool_down`` seconds so that one burst of
    429s arriving together counts as one signal. Not thread-safe: the dispatcher that
    owns it is single-threaded.
    """

    def __init__(self, initial=4, minimum=1, maximum=32, cool_down=2.0, clock=time.monotonic, slow_start=False):
        self.minimum = minimum
        # Until the first throttling, grow by one per clean batch (the limit doubles every round,
        # TCP's slow start): a short run reaches the tenant's budget in a round or two instead
        # of one slot per round. The first 429 ends it for good.
        self.slow_start = slow_start
        self.maximum = max(maximum, minimum)
        self.limit = float(min(max(initial, minimum), self.maximum))
        self.cool_down = cool_down
        self.peak = int(self.limit)
        self.decreases = 0
        self._clock = clock
        self._clean = 0
        self._last_decrease = None

    @property
    def slots(self):
        """The whole number of batches allowed in flight now."""
        return int(self.limit)

    def record_clean(self):
        """A batch came back without throttling."""
        self._clean += 1
        if self.slow_start and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + 1)
            self.peak = max(self.peak, self.slots)
            self._clean = 0
        elif self._clean >= self.slots and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + 1)
            self.peak = max(self.peak, self.slots)
            self._clean = 0

    def record_throttled(self):
        """A batch (or part of it) was answered 429."""
        self._clean = 0
        self.slow_start = False
        now = self._clock()
        if self._last_decrease is not None and now - self._last_decrease < self.cool_down:
            return
        self._last_decrease = now
        if self.limit > self.minimum:
            self.limit = max(float(self.minimum), self.limit * DECREASE_FACTOR)
            self.decreases += 1


class CoolDown:
    """Per request class (read, write) time before which nothing of that class is sent.

    Exchange budgets writes tighter than reads, so a 429 on a write must not stall the
    reads that are still within budget.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._until = {}

    def hold(self, request_class, seconds):
        """Send nothing of ``request_class`` for ``seconds`` from now."""
        until = self._clock() + seconds
        if until > self._until.get(request_class, 0.0):
            self._until[request_class] = until

    def ready(self, request_class):
        """True when requests of this class may be sent now."""
        return self._clock() >= self._until.get(request_class, 0.0)

    def wait_time(self, request_class):
        """Seconds until this class may be sent again (0 when ready)."""
        return max(0.0, self._until.get(request_class, 0.0) - self._clock())


# A pace that still collects this share of 429s (of at least MIN_ANSWERS answers since the last
# cut) is cut again before the cool-down ends: the first cut's measure includes the tenant's burst
# and is too high. Random 429s (a few per cent, a fault) do not reach it: cutting on every one
# of them walked the pace down to a tenth of the budget (measured with a 5 % throttle fault).
# Over at least MIN_SPAN seconds the cut is to the rate measured since the last cut, sooner it
# is a step of QUICK_CUT.
EXHAUSTED_SHARE = 0.15
MIN_ANSWERS = 100
MIN_SPAN = 0.5
QUICK_CUT = 0.85


class RatePacer:
    """Client-side pacing of one request class, learned from the tenant's answers.

    Exchange Online budgets requests per time (a token bucket per tenant), so a
    concurrency limit alone either stays under the budget or overshoots it and
    collects 429s. Until the first 429 nothing is paced. On a 429 the pace becomes the
    rate the tenant was just accepting, a little below it: at the first 429 measured
    over ``window`` seconds (the burst inflates it), at any later one over the time since
    the previous cut, during which the budget was empty, so what it accepted is exactly
    what it grants us now. A 429 to something sent before the last cut is old news and
    changes nothing, and the pace is cut at most once per ``cool_down`` seconds. While answers are clean the pace grows by ``growth`` (a share of
    itself per second), so it finds a budget that was raised or freed by other tools,
    without probing hard. Sub-requests are counted, not batches.
    """

    def __init__(self, clock=time.monotonic, window=2.0, growth=0.05, margin=0.95, cool_down=2.0):
        self.rate = None
        self.window = window
        self.growth = growth
        self.margin = margin
        self.cool_down = cool_down
        self._clock = clock
        self._accepted = deque()
        self._next = 0.0
        self._last_decrease = None
        self._first = None
        self._since_cut = 0  # sub-requests accepted since the last cut
        self._throttled_since_cut = 0  # and answered 429 (sent after it)

    def _observed(self, now):
        while self._accepted and self._accepted[0][0] < now - self.window:
            self._accepted.popleft()
        # A class that started sending less than a window ago is measured over its own age.
        span = min(self.window, max(now - self._first, 0.25)) if self._first is not None else self.window
        return sum(count for _stamp, count in self._accepted) / span

    def record_accepted(self, count):
        """``count`` sub-requests went through; let the pace grow with time spent clean."""
        if count <= 0:
            return
        now = self._clock()
        if self._first is None:
            self._first = now
        self._accepted.append((now, count))
        self._since_cut += count
        if self.rate:
            self.rate += self.growth * count

    def record_throttled(self, sent_at=None, count=1):
        """The tenant answered ``count`` 429s to something sent at ``sent_at``: pace just below what it was accepting.

        True when this was a new signal (the pace was cut).
        """
        now = self._clock()
        last = self._last_decrease
        if last is not None and sent_at is not None and sent_at <= last:
            return False  # sent before the last cut: old news
        self._throttled_since_cut += count
        if last is not None and now - last < self.cool_down:
            # A few 429s that are not about the budget (a fault, another tool's burst) must not walk
            # the pace down step by step: one cut per cool-down, unless the budget is plainly empty.
            if not self._exhausted():
                return False
            if now - last < MIN_SPAN:
                # Too soon to measure what it accepts: slow down by a step.
                self._last_decrease, self._since_cut, self._throttled_since_cut = now, 0, 0
                self.rate = max(self.rate * QUICK_CUT, 1.0) if self.rate else self.rate
                return True
        observed = self._observed(now) if last is None else self._since_cut / (now - last)
        self._last_decrease = now
        self._since_cut = self._throttled_since_cut = 0
        if observed > 0:
            paced = observed * self.margin
            self.rate = paced if self.rate is None else min(self.rate, paced)
        elif self.rate:
            self.rate = max(self.rate / 2, 1.0)
        return True

    def _exhausted(self):
        """True when a large share of the answers since the last cut were 429s: the budget is empty."""
        settled = self._since_cut + self._throttled_since_cut
        return settled >= MIN_ANSWERS and self._throttled_since_cut >= EXHAUSTED_SHARE * settled

    def wait_time(self):
        """Seconds until the next request of this class may go."""
        return max(0.0, self._next - self._clock())

    def take(self, count):
        """Book ``count`` sub-requests being sent now."""
        now = self._clock()
        if self.rate:
            self._next = max(now, self._next) + count / self.rate
