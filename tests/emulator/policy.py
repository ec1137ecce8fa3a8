"""Throttling (token buckets and a concurrency cap) and request statistics (fault rules: faults.py)."""
from __future__ import annotations

import threading
import time
from collections import Counter

WRITE_PREFIXES = ("add-", "remove-", "set-", "new-", "enable-", "disable-")


def is_write(cmdlet):
    """True for cmdlets that change something (counted against the write bucket)."""
    return str(cmdlet).lower().startswith(WRITE_PREFIXES)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; rate 0 means unlimited."""

    def __init__(self, rate=0.0, burst=0.0):
        self.lock = threading.Lock()
        self.configure(rate, burst)

    def configure(self, rate, burst):
        """Set rate and burst and refill the bucket."""
        with self.lock:
            self.rate = float(rate or 0)
            self.burst = max(float(burst or 0), 1.0) if self.rate else 0.0
            self.tokens = self.burst
            self.stamp = time.monotonic()

    def take(self):
        """(True, 0) when a token was taken, else (False, seconds until one is available)."""
        if not self.rate:
            return True, 0.0
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True, 0.0
            return False, (1.0 - self.tokens) / self.rate


class Concurrency:
    """Outer requests in flight for the tenant, with a cap (0 = none)."""

    def __init__(self, limit=0):
        self.lock = threading.Lock()
        self.limit = int(limit or 0)
        self.current = 0
        self.peak = 0

    def enter(self):
        """True when the request may run (call leave() afterwards)."""
        with self.lock:
            if self.limit and self.current >= self.limit:
                return False
            self.current += 1
            self.peak = max(self.peak, self.current)
            return True

    def leave(self):
        """The request finished."""
        with self.lock:
            self.current -= 1


class Stats:
    """Request counters (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Zero everything."""
        with self.lock:
            self.counters = Counter()
            self.by_cmdlet = Counter()
            self.by_status = Counter()
            self.sub_by_status = Counter()
            self.by_endpoint = Counter()
            self.started = time.time()

    def count(self, **names):
        """Add to plain counters."""
        with self.lock:
            self.counters.update(names)

    def outer(self, endpoint, status):
        """One HTTP request answered."""
        with self.lock:
            self.counters["requests_total"] += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[str(status)] += 1
            if status == 429:
                self.counters["throttled_total"] += 1

    def cmdlet(self, cmdlet, status, sub):
        """One cmdlet call (direct or inside a batch)."""
        with self.lock:
            self.by_cmdlet[cmdlet or "?"] += 1
            if sub:
                self.counters["sub_requests"] += 1
                self.sub_by_status[str(status)] += 1
                if status == 429:
                    self.counters["throttled_total"] += 1
                    self.counters["throttled_sub_requests"] += 1

    def snapshot(self, concurrency):
        """Everything as a dict."""
        with self.lock:
            data = {name: self.counters.get(name, 0) for name in (
                "requests_total", "batches", "sub_requests", "throttled_total", "throttled_sub_requests",
                "concurrency_rejections", "tokens_issued", "token_errors", "dropped", "faults_applied",
                "auth_failures", "forbidden", "not_allowed", "anchor_rejections", "redirects")}
            data.update({"by_cmdlet": dict(self.by_cmdlet), "by_status": dict(self.by_status),
                         "sub_by_status": dict(self.sub_by_status), "by_endpoint": dict(self.by_endpoint),
                         "since": self.started})
        data.update({"concurrency_current": concurrency.current, "concurrency_peak": concurrency.peak,
                     "concurrency_limit": concurrency.limit})
        return data
