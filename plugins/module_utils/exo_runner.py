# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run many cmdlet calls through ``$batch``, concurrently, within the tenant's budget.

Callers submit ``Call`` objects, each with a handler. One dispatcher thread (the
caller's) packs ready calls into batches of ten, keeps as many batches in flight as
the adaptive limit allows, and hands every call's final answer to its handler, which
may submit follow-up calls. All bookkeeping happens on the dispatcher thread; worker
threads only do HTTP, so handlers need no locks.

Every call has one retry budget (MAX_TRANSIENT_ATTEMPTS sends), whatever failed: its
sub-request, its whole batch, or the token it needed. A ``$batch`` is sent once by the
client, so retries never multiply. Throttling (429) is not the call's fault and has its
own, larger budget; it also shrinks the concurrency of its class and paces the class at
the rate the tenant was accepting (reads and writes are budgeted apart). A sub-request
answered with a routing error is sent again as a direct call.

A circuit breaker stops the run when Exchange Online fails persistently (most of the
last sends failed): nothing more is sent, and every call still queued reaches its
handler as failed with the reason. Handlers always get a CmdletResult or an ExoError,
never anything else: nothing is dropped and nothing escapes as a traceback.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import AuthError
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

CLASSES = ("write", "read")
RETRYABLE_KINDS = ("transient", "unauthorized")
# A token that expired in flight is not the call's fault either: resend with the renewed
# token this many times before it counts against the call's budget.
MAX_EXPIRED_RESENDS = 5
# Calls queued (ready or delayed) below which run() asks its feed for more work: enough to
# keep every allowed batch busy, few enough that 100,000 mailboxes never sit in memory as calls.
FEED_BACKLOG = 1000
# How long the dispatcher waits before asking a feed again that had nothing to give yet (a
# listing still on its way): short, so calls start as soon as a listing page arrives.
FEED_POLL = 0.02
# The circuit opens when this share of the last BREAKER_WINDOW sends failed.
BREAKER_WINDOW = 40
BREAKER_THRESHOLD = 0.8


class Call:
    """One cmdlet call and what to do with its answer: handler(call, outcome)."""

    __slots__ = ("cmdlet", "parameters", "handler", "context", "request_class", "attempts", "throttled", "select",
                 "direct", "expired")

    def __init__(self, cmdlet, parameters, handler, context=None, select=None):
        self.cmdlet = cmdlet
        self.parameters = parameters
        self.handler = handler
        self.context = context
        self.select = select
        self.request_class = request_class(cmdlet)
        self.attempts = 0
        self.throttled = 0
        self.expired = 0
        self.direct = False


def as_exo_error(exc, cmdlet=None):
    """Any exception a send raised, as the ExoError handlers understand."""
    if isinstance(exc, ExoError):
        return exc
    if isinstance(exc, AuthError):
        # No token could be had, and the provider already retried a transient failure with
        # backoff: nothing more can be sent in this run, so it ends here, counted.
        return ExoError("no token for Exchange Online: %s" % exc, kind="auth", cmdlet=cmdlet)
    return ExoError("unexpected %s while calling Exchange Online: %s" % (exc.__class__.__name__, exc),
                    kind="auth", cmdlet=cmdlet)


class CircuitBreaker:
    """Opens when most of the recent sends failed, so a failing service is not hammered."""

    def __init__(self, window=BREAKER_WINDOW, threshold=BREAKER_THRESHOLD):
        self.threshold = threshold
        self._recent = deque(maxlen=window)
        self.last_error = None

    def record(self, failed, error=None):
        """One send's outcome; returns True when the circuit is now open."""
        self._recent.append(bool(failed))
        if failed:
            self.last_error = error
        return len(self._recent) == self._recent.maxlen and sum(self._recent) >= self.threshold * len(self._recent)

    def reason(self):
        """Why the circuit opened, as an ExoError."""
        failures = sum(self._recent)
        last = self.last_error.message if self.last_error is not None else "unknown"
        return ExoError("Exchange Online failed %d of the last %d requests (last: %s); the module stopped sending. "
                        "Run again later: a re-run picks up where this one stopped." % (failures, len(self._recent), last),
                        kind="unavailable")


class BatchRunner:
    """Dispatches Calls in concurrent $batch requests until none is left."""

    def __init__(self, client, max_concurrency=16, initial_concurrency=8, clock=time.monotonic, sleep=time.sleep,
                 on_progress=None):
        self.client = client
        self.max_concurrency = max_concurrency
        # Reads and writes have separate budgets, so each class finds its own concurrency. Reads
        # start with a slow start (their budget is the larger, and a re-run is nothing but reads);
        # writes, budgeted tighter, grow by one per round, so a run does not open with a burst of
        # 429s on the budget every admin tool of the tenant shares.
        self.limiters = {
            klass: AdaptiveConcurrency(initial=initial_concurrency, maximum=max_concurrency, clock=clock,
                                       slow_start=klass == "read")
            for klass in CLASSES
        }
        self.pacers = {klass: RatePacer(clock=clock) for klass in CLASSES}
        self.cool = CoolDown(clock=clock)
        self.breaker = CircuitBreaker()
        self._clock = clock
        self._sleep = sleep
        self._ready = {"write": deque(), "read": deque()}
        self._delayed = []
        self._sequence = itertools.count()
        # Called on the dispatcher thread after each settled batch (periodic state saves).
        self.on_progress = on_progress
        self.aborted = None

    # -- queueing -------------------------------------------------------------------

    def submit(self, call, delay=0.0):
        """Queue a call, optionally not before ``delay`` seconds from now."""
        if self.aborted is not None:
            call.handler(call, self.aborted)
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
        """Up to ten ready calls of one class, or one direct call (each class has its own budget)."""
        queue = self._ready[klass]
        if queue and queue[0].direct:
            return [queue.popleft()]
        calls = []
        while queue and len(calls) < MAX_BATCH_SIZE and not queue[0].direct:
            calls.append(queue.popleft())
        return calls

    @property
    def peak_concurrency(self):
        """Most batches the limits allowed in flight at once, reads and writes together."""
        return sum(limiter.peak for limiter in self.limiters.values())

    def _pending(self):
        return any(self._ready.values()) or bool(self._delayed)

    def _backlog(self):
        return len(self._ready["write"]) + len(self._ready["read"]) + len(self._delayed)

    def _wait_time(self):
        """How long the dispatcher may sleep before something could become ready."""
        waits = [1.0]
        if self._delayed:
            waits.append(self._delayed[0][0] - self._clock())
        for klass, queue in self._ready.items():
            if queue:
                waits.append(max(self.cool.wait_time(klass), self.pacers[klass].wait_time()))
        return min(max(min(waits), 0.005), 1.0)

    def _send(self, pool, calls):
        for call in calls:
            call.attempts += 1
        if calls[0].direct:
            call = calls[0]
            return pool.submit(self.client.invoke, call.cmdlet, call.parameters)
        return pool.submit(self.client.batch, [(index, c.cmdlet, c.parameters, c.select) for index, c in enumerate(calls)])

    # -- the loop -------------------------------------------------------------------

    def run(self, feed=None):
        """Dispatch until every submitted call (and every follow-up) is settled.

        ``feed(room)``, when given, submits up to ``room`` more calls and returns False once it
        has nothing more to give: work is taken as the backlog drains, not all at once. A feed
        that has nothing yet but may have more later (a listing on its way) returns True; it is
        asked again within FEED_POLL seconds.
        """
        feeding = feed is not None
        with ThreadPoolExecutor(max_workers=2 * self.max_concurrency, thread_name_prefix="exo-batch") as pool:
            in_flight = {}
            busy = dict.fromkeys(CLASSES, 0)
            while True:
                if feeding and self.aborted is None and self._backlog() < FEED_BACKLOG:
                    feeding = feed(FEED_BACKLOG - self._backlog())
                self._release_due()
                for klass in CLASSES:
                    pacer = self.pacers[klass]
                    while self.aborted is None and busy[klass] < self.limiters[klass].slots and self.cool.ready(klass) \
                            and pacer.wait_time() == 0:
                        calls = self._take_batch(klass)
                        if not calls:
                            break
                        pacer.take(len(calls))
                        in_flight[self._send(pool, calls)] = (klass, calls, self._clock())
                        busy[klass] += 1
                if not in_flight and not self._pending() and (not feeding or self.aborted is not None):
                    break
                timeout = self._wait_time()
                if feeding and self._backlog() < FEED_BACKLOG:
                    timeout = min(timeout, FEED_POLL)
                if in_flight:
                    done, _pending = wait(list(in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
                else:
                    self._sleep(timeout)
                    done = ()
                for future in done:
                    klass, calls, sent_at = in_flight.pop(future)
                    busy[klass] -= 1
                    self._settle(klass, calls, future, sent_at)
                if self.aborted is not None:
                    self._fail_queued()
                if done and self.on_progress is not None:
                    self.on_progress()

    def _settle(self, klass, calls, future, sent_at=None):
        limiter, pacer = self.limiters[klass], self.pacers[klass]
        try:
            outcome = future.result()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            error = as_exo_error(exc, calls[0].cmdlet)
            if error.fatal:
                self._abort(error, calls)
                return
            if calls[0].direct:
                # A direct call used its whole budget inside the client: its error is final.
                self.breaker.record(error.kind == "transient", error)
                calls[0].handler(calls[0], error)
                return
            if error.kind == "throttled":
                limiter.record_throttled()
                pacer.record_throttled(sent_at, count=len(calls))
            elif self.breaker.record(error.kind == "transient", error):
                self._abort(self.breaker.reason(), calls)
                return
            for call in calls:
                self._retry_or_fail(call, error)
            return
        if calls[0].direct:
            # A direct call used its budget inside the client: its outcome is final.
            self.breaker.record(False)
            calls[0].handler(calls[0], outcome)
            return
        answers, throttled = outcome
        sub_throttled = sub_failed = 0
        for index, call in enumerate(calls):
            sub_throttled += self._settle_call(call, answers[str(index)], limiter)
            sub_failed += isinstance(answers[str(index)], ExoError) and answers[str(index)].kind == "transient"
        if self.breaker.record(sub_failed > len(calls) // 2, next(
                (answer for answer in answers.values() if isinstance(answer, ExoError)), None)):
            self._abort(self.breaker.reason(), [])
        pacer.record_accepted(len(calls) - sub_throttled)
        if throttled or sub_throttled:
            limiter.record_throttled()
            pacer.record_throttled(sent_at, count=sub_throttled or len(calls))
        else:
            limiter.record_clean()

    def _settle_call(self, call, outcome, limiter):
        """Route one sub-request's outcome; returns 1 when it was throttled."""
        if not isinstance(outcome, ExoError):
            call.handler(call, outcome)
        elif outcome.kind == "throttled":
            self.client.stats.add(throttled=1)
            call.throttled += 1
            call.attempts -= 1  # throttling is not the call's fault; it has its own budget
            if limiter.slots <= limiter.minimum:
                # Sending slower is no longer possible: hold the whole class as asked.
                self.cool.hold(call.request_class, outcome.retry_after)
            if call.throttled >= MAX_THROTTLED_ATTEMPTS:
                call.handler(call, outcome)
            else:
                self.submit(call, delay=outcome.retry_after)
            return 1
        elif outcome.fatal:
            self._abort(outcome, [call])
        elif outcome.kind == "routing" and not call.direct:
            # Microsoft's module does not batch mailbox-routed cmdlets; send this one alone.
            call.direct = True
            call.attempts -= 1
            self.submit(call)
        elif outcome.kind in RETRYABLE_KINDS:
            self._retry_or_fail(call, outcome)
        else:
            call.handler(call, outcome)
        return 0

    def _retry_or_fail(self, call, error):
        if self.aborted is not None:
            call.handler(call, self.aborted)
        elif error.kind == "unauthorized" and call.expired < MAX_EXPIRED_RESENDS:
            call.expired += 1
            call.attempts -= 1
            self.submit(call)
        elif error.kind in RETRYABLE_KINDS + ("throttled",) and call.attempts < MAX_TRANSIENT_ATTEMPTS:
            self.submit(call, delay=backoff_delay(call.attempts))
        else:
            if call.attempts > 1:
                error = ExoError("%s (after %d attempts)" % (error.message, call.attempts), status=error.status,
                                 kind=error.kind, exception_class=error.exception_class, cmdlet=error.cmdlet)
            call.handler(call, error)

    def _abort(self, cause, calls):
        if self.aborted is None:
            self.aborted = cause
        for call in calls:
            call.handler(call, self.aborted)

    def _fail_queued(self):
        queued = list(self._ready["write"]) + list(self._ready["read"]) + [entry[2] for entry in self._delayed]
        for queue in self._ready.values():
            queue.clear()
        self._delayed = []
        for call in queued:
            call.handler(call, self.aborted)
