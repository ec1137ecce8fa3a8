"""Throttling (token buckets and a concurrency cap), fault rules and request statistics."""
from __future__ import annotations

import math
import random
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
        """(True, 0) when a token was taken, else (False, seconds until one is available, at least 1)."""
        if not self.rate:
            return True, 0
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True, 0
            return False, max(1, int(math.ceil((1.0 - self.tokens) / self.rate)))


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


FAULT_KINDS = ("status", "drop", "slow", "throttle", "expire_nextlinks", "revoke_tokens")
SITES = ("any", "batch", "sub", "invoke", "token")


class FaultRule:
    """One fault rule; see README.md for the fields."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r; known: %s" % (self.kind, ", ".join(FAULT_KINDS)))
        self.status = int(spec.get("status", 503))
        self.count = spec.get("count")
        self.probability = spec.get("probability")
        if self.count is None and self.probability is None:
            self.count = 1
        self.count = None if self.count is None else int(self.count)
        self.probability = None if self.probability is None else float(self.probability)
        self.cmdlet = spec.get("cmdlet")
        self.where = spec.get("where", "any")
        if self.where not in SITES:
            raise ValueError("where must be one of %s" % ", ".join(SITES))
        self.delay_ms = float(spec.get("delay_ms", 1000))
        self.retry_after = int(spec.get("retry_after", 1))
        self.exception = spec.get("exception", "Microsoft.Exchange.Data.Storage.StorageTransientException")
        self.body = spec.get("body")
        self.applied = 0
        self.spec = dict(spec)

    def matches(self, site, cmdlet):
        """True when the rule applies at this site (invoke, batch, sub, token) for this cmdlet."""
        if self.count is not None and self.count <= 0:
            return False
        if self.where == "token" or site == "token":
            return self.where == site
        if self.where not in ("any", site):
            return False
        if self.cmdlet and (cmdlet or "").lower() != self.cmdlet.lower():
            return False
        return True

    def describe(self):
        """The rule as the control API lists it."""
        described = dict(self.spec)
        described.update({"remaining": self.count, "applied": self.applied})
        return described


class Faults:
    """The active fault rules."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.rng = random.Random()

    def add(self, rules):
        """Add rules (already validated FaultRule objects)."""
        with self.lock:
            self.rules.extend(rules)

    def clear(self):
        """Remove all rules."""
        with self.lock:
            self.rules = []

    def draw(self, site, cmdlet):
        """The rules that fire for one request unit: (terminal rule or None, extra delay in seconds)."""
        if not self.rules:
            return None, 0.0
        terminal, delay = None, 0.0
        with self.lock:
            for rule in self.rules:
                if rule.kind in ("expire_nextlinks", "revoke_tokens") or not rule.matches(site, cmdlet):
                    continue
                if rule.kind != "slow" and terminal is not None:
                    continue
                if rule.probability is not None and self.rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                rule.applied += 1
                if rule.kind == "slow":
                    delay += rule.delay_ms / 1000.0
                else:
                    terminal = rule
            self.rules = [rule for rule in self.rules if rule.count is None or rule.count > 0]
        return terminal, delay

    def describe(self):
        """All active rules."""
        with self.lock:
            return [rule.describe() for rule in self.rules]


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
                "auth_failures", "forbidden")}
            data.update({"by_cmdlet": dict(self.by_cmdlet), "by_status": dict(self.by_status),
                         "sub_by_status": dict(self.sub_by_status), "by_endpoint": dict(self.by_endpoint),
                         "since": self.started})
        data.update({"concurrency_current": concurrency.current, "concurrency_peak": concurrency.peak,
                     "concurrency_limit": concurrency.limit})
        return data
