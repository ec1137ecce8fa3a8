# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run many cmdlet calls through ``$batch``, concurrently, within the tenant's budget.

Callers submit ``Call`` objects, each with a handler. One dispatcher thread (the
caller's) packs ready calls into batches of ten, keeps as many batches in flight as
the adaptive limit allows, and hands every call's final answer to its handler, which
may submit follow-up calls. All bookkeeping happens on the dispatcher thread; worker
threads only do HTTP, so handlers need no locks.

Retried here: sub-requests answered 429 (each after its Retry-After), transient errors
and expired tokens (with backoff). A 429 also shrinks the concurrency of its class and
paces the class at the rate the tenant was accepting (reads and writes are budgeted
apart, so each class has its own limit and pace); once a class is down to one batch
in flight, a 429 holds the whole class for its Retry-After.
A call whose retries run out, or that fails for good, reaches its handler as an
ExoError: nothing is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import (
    MAX_BATCH_SIZE,
    ExoError,
    request_class,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_throttle import (
    MAX_THROTTLED_ATTEMPTS,
    MAX_TRANSIENT_ATTEMPTS,
    AdaptiveConcurrency,
    CoolDown,
    RatePacer,
    backoff_delay,
)

# Errors that mean the whole run cannot succeed (wrong token, missing role).
FATAL_KINDS = ("unauthorized", "forbidden")
CLASSES = ("write", "read")
RETRYABLE_KINDS = ("transient", "unauthorized")


class Call:
    """One cmdlet call and what to do with its answer: handler(call, outcome)."""

    __slots__ = ("cmdlet", "parameters", "handler", "context", "request_class", "attempts", "throttled")

    def __init__(self, cmdlet, parameters, handler, context=None):
        self.cmdlet = cmdlet
        self.parameters = parameters
        self.handler = handler
        self.context = context
        self.request_class = request_class(cmdlet)
        self.attempts = 0
        self.throttled = 0


class RunAborted(Exception):
    """The tenant refused the app itself; carries the ExoError or AuthError that said so."""

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


class BatchRunner:
    """Dispatches Calls in concurrent $batch requests until none is left."""

    def __init__(self, client, max_concurrency=16, initial_concurrency=8, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.max_concurrency = max_concurrency
        # Reads and writes have separate budgets, so each class finds its own concurrency.
        self.limiters = {klass: AdaptiveConcurrency(initial=initial_concurrency, maximum=max_concurrency, clock=clock)
                         for klass in CLASSES}
        self.pacers = {klass: RatePacer(clock=clock) for klass in CLASSES}
        self.cool = CoolDown(clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._ready = {"write": deque(), "read": deque()}
        self._delayed = []
        self._sequence = itertools.count()
        self.aborted = None

    # -- queueing -------------------------------------------------------------------

    def submit(self, call, delay=0.0):
        """Queue a call, optionally not before ``delay`` seconds from now."""
        if self.aborted is not None:
            call.handler(call, self.aborted.cause)
        elif delay > 0:
            heapq.heappush(self._delayed, (self._clock() + delay, next(self._sequence), call))
        else:
            self._ready[call.request_class].append(call)

    def _release_due(self):
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            call = heapq.heappop(self._delayed)[2]
            self._ready[call.request_class].append(call)

    def _take_batch(self, klass):
        """Up to ten ready calls of one class (each class has its own budget and limit)."""
        queue = self._ready[klass]
        calls = []
        while queue and len(calls) < MAX_BATCH_SIZE:
            calls.append(queue.popleft())
        return calls

    @property
    def peak_concurrency(self):
        """Most batches the limits allowed in flight at once, reads and writes together."""
        return sum(limiter.peak for limiter in self.limiters.values())

    def _pending(self):
        return any(self._ready.values()) or bool(self._delayed)

    def _wait_time(self):
        """How long the dispatcher may sleep before something could become ready."""
        waits = [1.0]
        if self._delayed:
            waits.append(self._delayed[0][0] - self._clock())
        for klass, queue in self._ready.items():
            if queue:
                waits.append(max(self.cool.wait_time(klass), self.pacers[klass].wait_time()))
        return min(max(min(waits), 0.005), 1.0)

    # -- the loop -------------------------------------------------------------------

    def run(self):
        """Dispatch until every submitted call (and every follow-up) is settled."""
        with ThreadPoolExecutor(max_workers=2 * self.max_concurrency, thread_name_prefix="exo-batch") as pool:
            in_flight = {}
            busy = dict.fromkeys(CLASSES, 0)
            while True:
                self._release_due()
                for klass in CLASSES:
                    pacer = self.pacers[klass]
                    while self.aborted is None and busy[klass] < self.limiters[klass].slots and self.cool.ready(klass) \
                            and pacer.wait_time() == 0:
                        calls = self._take_batch(klass)
                        if not calls:
                            break
                        pacer.take(len(calls))
                        for call in calls:
                            call.attempts += 1
                        future = pool.submit(self.client.batch, [(index, c.cmdlet, c.parameters) for index, c in enumerate(calls)])
                        in_flight[future] = (klass, calls)
                        busy[klass] += 1
                if not in_flight and not self._pending():
                    break
                if in_flight:
                    done, _pending = wait(list(in_flight), timeout=self._wait_time(), return_when=FIRST_COMPLETED)
                else:
                    self._sleep(self._wait_time())
                    done = ()
                for future in done:
                    klass, calls = in_flight.pop(future)
                    busy[klass] -= 1
                    self._settle(klass, calls, future)
                if self.aborted is not None:
                    self._fail_queued()

    def _settle(self, klass, calls, future):
        limiter, pacer = self.limiters[klass], self.pacers[klass]
        try:
            answers, throttled = future.result()
        except ExoError as exc:
            if exc.kind in FATAL_KINDS:
                self._abort(exc, calls)
                return
            if exc.kind == "throttled":
                limiter.record_throttled()
                pacer.record_throttled()
            for call in calls:
                self._retry_or_fail(call, exc)
            return
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # AuthError (token could not be renewed) or a bug: nothing more can succeed.
            self._abort(exc, calls)
            return
        sub_throttled = 0
        for index, call in enumerate(calls):
            outcome = answers[str(index)]
            if isinstance(outcome, ExoError) and outcome.kind == "throttled":
                sub_throttled += 1
                call.throttled += 1
                call.attempts -= 1  # throttling is not the call's fault; it has its own budget
                if limiter.slots <= limiter.minimum:
                    # Sending slower is no longer possible: hold the whole class as asked.
                    self.cool.hold(call.request_class, outcome.retry_after)
                if call.throttled >= MAX_THROTTLED_ATTEMPTS:
                    call.handler(call, outcome)
                else:
                    self.submit(call, delay=outcome.retry_after)
            elif isinstance(outcome, ExoError) and outcome.kind in FATAL_KINDS and outcome.kind != "unauthorized":
                self._abort(outcome, [call])
            elif isinstance(outcome, ExoError) and outcome.kind in RETRYABLE_KINDS:
                self._retry_or_fail(call, outcome)
            else:
                call.handler(call, outcome)
        pacer.record_accepted(len(calls) - sub_throttled)
        if throttled or sub_throttled:
            limiter.record_throttled()
            pacer.record_throttled()
        else:
            limiter.record_clean()

    def _retry_or_fail(self, call, error):
        if error.kind in RETRYABLE_KINDS + ("throttled",) and call.attempts < MAX_TRANSIENT_ATTEMPTS:
            self.submit(call, delay=backoff_delay(call.attempts))
        else:
            call.handler(call, error)

    def _abort(self, cause, calls):
        if self.aborted is None:
            self.aborted = RunAborted(cause)
        for call in calls:
            call.handler(call, self.aborted.cause)

    def _fail_queued(self):
        queued = list(self._ready["write"]) + list(self._ready["read"]) + [entry[2] for entry in self._delayed]
        for queue in self._ready.values():
            queue.clear()
        self._delayed = []
        for call in queued:
            call.handler(call, self.aborted.cause)
