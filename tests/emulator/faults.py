"""Fault rules (POST /_emulator/faults): what they match, how often they fire, what they do.

A rule is one of four sorts:
- terminal: answers instead of the service (``status``, ``drop``, ``throttle``, ``concurrency``,
  ``adminapi_error``, ``routing_error``, ``redirect``); with ``after: true`` the cmdlet runs first;
- modifier: the service answers, then the answer is changed (``corrupt``, ``nextlink``, ``trickle``);
- delay: ``slow`` adds time;
- one-shot: ``expire_nextlinks``, ``revoke_tokens`` act when added and are not kept.
See README.md for every field.
"""
from __future__ import annotations

import random
import threading

TERMINAL = ("status", "drop", "throttle", "concurrency", "adminapi_error", "routing_error", "redirect")
MODIFIERS = ("corrupt", "nextlink", "trickle")
ONE_SHOT = ("expire_nextlinks", "revoke_tokens")
FAULT_KINDS = TERMINAL + MODIFIERS + ("slow",) + ONE_SHOT
SITES = ("any", "batch", "sub", "invoke", "token")
# Where each kind makes sense; "any" never includes the token endpoint.
ALLOWED_SITES = {
    "status": SITES, "drop": SITES, "throttle": SITES, "slow": SITES, "redirect": SITES, "corrupt": SITES,
    "trickle": ("any", "batch", "invoke", "token"),
    "concurrency": ("any", "batch", "sub", "invoke"),
    "adminapi_error": ("any", "sub", "invoke"), "routing_error": ("any", "sub", "invoke"),
    "nextlink": ("any", "sub", "invoke"),
    "expire_nextlinks": SITES, "revoke_tokens": SITES,
}
# Which kinds can fire at which site (a rule with where "any" waits for a site where it can).
FIRES_AT = {
    "token": ("status", "drop", "throttle", "slow", "redirect", "corrupt", "trickle"),
    "batch": ("status", "drop", "throttle", "slow", "redirect", "corrupt", "trickle", "concurrency"),
    "invoke": TERMINAL + MODIFIERS + ("slow",),
    "sub": ("status", "drop", "throttle", "slow", "redirect", "corrupt", "concurrency", "adminapi_error", "routing_error",
            "nextlink"),
}
CORRUPT_MODES = ("keep", "html", "truncated", "empty", "json_error", "value_not_list", "missing_ids")
TARGETS = ("sink_https", "sink_http", "foreign", "unresolvable")
NEXTLINK_TARGETS = TARGETS + ("loop",)
DEFAULT_STATUS = {"status": 503, "concurrency": 429, "routing_error": 400, "redirect": 307}
DEFAULT_ADMINAPI_ERROR = ("Ex2A8F6C|Microsoft.Exchange.Data.Directory.ADOperationException|Active Directory operation "
                          "failed on NAMPR01A001DC001.NAMPR01A001.PROD.OUTLOOK.COM. This error is not retriable. Additional "
                          "information: The object could not be updated because of a concurrent change.")


def _retry_after_text(value):
    """Retry-After exactly as asked (numbers as given, strings such as "NaN" verbatim); None = no header."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class FaultRule:
    """One fault rule, validated."""

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        self.spec = dict(spec)
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r; known: %s" % (self.kind, ", ".join(FAULT_KINDS)))
        self.where = spec.get("where", "sub" if self.kind == "routing_error" else "any")
        if self.where not in ALLOWED_SITES[self.kind]:
            raise ValueError("where must be one of %s for kind %s" % (", ".join(ALLOWED_SITES[self.kind]), self.kind))
        self.count = spec.get("count")
        self.probability = spec.get("probability")
        if self.count is None and self.probability is None:
            self.count = 1
        self.count = None if self.count is None else int(self.count)
        self.probability = None if self.probability is None else float(self.probability)
        self.cmdlet = spec.get("cmdlet")
        self.status = int(spec.get("status", DEFAULT_STATUS.get(self.kind, 503)))
        self.delay_ms = float(spec.get("delay_ms", 1000))
        self.retry_after = _retry_after_text(spec.get("retry_after", 1))
        self.exception = spec.get("exception", "StorageTransientException")
        self.message = spec.get("message")
        self.body = spec.get("body")
        errors = spec.get("error", DEFAULT_ADMINAPI_ERROR)
        self.errors = [str(item) for item in errors] if isinstance(errors, list) else [str(errors)]
        self.mode = spec.get("mode", "keep")
        self.content_type = spec.get("content_type")
        self.missing = int(spec.get("missing", 1))
        self.target = spec.get("target", "loop" if self.kind == "nextlink" else "sink_https")
        self.url = spec.get("url")
        self.chunk_bytes = max(int(spec.get("bytes", 16)), 1)
        self.every_ms = max(float(spec.get("every_ms", 100)), 0.0)
        self.after = bool(spec.get("after"))
        self.skip = max(int(spec.get("skip", 0)), 0)
        self._check()
        self.applied = 0

    def _check(self):
        if self.kind == "corrupt":
            if self.mode not in CORRUPT_MODES:
                raise ValueError("mode must be one of %s" % ", ".join(CORRUPT_MODES))
            if self.mode == "missing_ids" and self.where != "batch":
                raise ValueError("mode missing_ids needs where: batch")
        if self.kind == "nextlink" and self.target not in NEXTLINK_TARGETS and not self.url:
            raise ValueError("target must be one of %s (or give url)" % ", ".join(NEXTLINK_TARGETS))
        if self.kind == "redirect":
            if self.target not in TARGETS and not self.url:
                raise ValueError("target must be one of %s (or give url)" % ", ".join(TARGETS))
            if self.status not in (301, 302, 303, 307, 308):
                raise ValueError("a redirect status is 301, 302, 303, 307 or 308")

    def matches(self, site, cmdlet):
        """True when the rule applies at this site (invoke, batch, sub, token) for this cmdlet."""
        if self.count is not None and self.count <= 0:
            return False
        if self.kind not in FIRES_AT[site]:
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


class Drawn:
    """The rules that fire for one request unit."""

    __slots__ = ("terminal", "delay", "modifiers")

    def __init__(self):
        self.terminal = None
        self.delay = 0.0
        self.modifiers = {}

    @property
    def fired(self):
        """How many rules fired (for the faults_applied counter)."""
        return (self.terminal is not None) + len(self.modifiers)

    def modifier(self, kind):
        """The fired modifier rule of this kind, or None."""
        return self.modifiers.get(kind)


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
        """Which rules fire for one request unit: slow rules add up, the first terminal rule wins,
        and the first rule of each modifier kind applies."""
        drawn = Drawn()
        if not self.rules:
            return drawn
        with self.lock:
            for rule in self.rules:
                if rule.kind in ONE_SHOT or not rule.matches(site, cmdlet):
                    continue
                if (rule.kind in TERMINAL and drawn.terminal is not None) or rule.kind in drawn.modifiers:
                    continue
                if rule.skip:
                    rule.skip -= 1  # this matching unit passes untouched
                    continue
                if rule.probability is not None and self.rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                rule.applied += 1
                if rule.kind == "slow":
                    drawn.delay += rule.delay_ms / 1000.0
                elif rule.kind in TERMINAL:
                    drawn.terminal = rule
                else:
                    drawn.modifiers[rule.kind] = rule
            self.rules = [rule for rule in self.rules if rule.count is None or rule.count > 0]
        return drawn

    def describe(self):
        """All active rules."""
        with self.lock:
            return [rule.describe() for rule in self.rules]
