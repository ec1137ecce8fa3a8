"""What the server knows and does for one cmdlet call: tenant, Entra authority, routing,
RBAC, throttling, fault rules, the cmdlet itself, statistics and runtime configuration."""
from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import uuid

from . import CUSTOM_DOMAIN, SYSTEM_MAILBOX, TENANT_DOMAIN, answers, cmdlets
from .auth import Authority, TokenRejected
from .cmdlets import CmdletError
from .faults import ONE_SHOT, FaultRule, Faults
from .jsontext import RawArray, encode
from .policy import Concurrency, Stats, TokenBucket, is_write
from .records import MailboxRecords
from .routing import Directory
from .tenant import Tenant

DROP = object()
DEFAULTS = {
    "mailboxes": 250, "seed": 1, "port": 0, "latency_ms": 0.0, "latency_ms_max": 0.0,
    "read_rate": 0.0, "read_burst": 0.0, "write_rate": 0.0, "write_burst": 0.0, "max_concurrency": 0,
    "token_lifetime": 3599, "nextlink_ttl": 300.0, "replication_delay": 0.0,
    "granted_fraction": 0.0, "granted_user": None,
    # 12.5 MB/s (100 Mbit/s): a page of 1,000 full Get-Mailbox objects (~14 MB) takes about a second.
    "transfer_rate": 12_500_000.0, "clock_skew": 0.0, "existing_grant_answer": "warning", "retry_after_style": "decimal",
}
NUMBER_KEYS = ("latency_ms", "latency_ms_max", "read_rate", "read_burst", "write_rate", "write_burst", "max_concurrency",
               "token_lifetime", "nextlink_ttl", "replication_delay", "transfer_rate", "clock_skew")
CHOICE_KEYS = {"existing_grant_answer": ("warning", "silent", "error"), "retry_after_style": ("decimal", "integer")}
RUNTIME_KEYS = NUMBER_KEYS + tuple(CHOICE_KEYS)
FOREIGN_HOST = "https://exchange.attacker.invalid"


def skiptoken_error(reason):
    """The answer to an expired or foreign $skiptoken (400, see README)."""
    return CmdletError(400, "BadRequest", "ExE1F0C6", "Microsoft.Exchange.Admin.OData.Core.InvalidSkipTokenException",
                       "The $skiptoken is not valid: %s. Send the request again without $skiptoken to start the listing "
                       "over." % reason)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Snapshots:
    """Listings in progress: a $skiptoken is (snapshot id, offset, issue time, generation)."""

    def __init__(self, engine):
        self.engine = engine
        self.lock = threading.Lock()
        self.items = {}
        self.generation = 0

    def store(self, items, truncated, key):
        """Remember a listing's result; returns its id."""
        now = time.monotonic()
        ttl = float(self.engine.config["nextlink_ttl"])
        with self.lock:
            for snapshot_id in [sid for sid, entry in self.items.items() if now - entry[3] > ttl + 60]:
                del self.items[snapshot_id]
            while len(self.items) >= 256:
                del self.items[next(iter(self.items))]
            snapshot_id = uuid.uuid4().hex[:16]
            self.items[snapshot_id] = [items, truncated, key, now]
        return snapshot_id

    def token(self, snapshot_id, offset):
        """An opaque $skiptoken for the next page."""
        with self.lock:
            entry = self.items.get(snapshot_id)
            if entry:
                entry[3] = time.monotonic()
        raw = "%s:%d:%.3f:%d" % (snapshot_id, offset, time.time(), self.generation)
        return _b64(raw.encode())

    def resume(self, token, key):
        """(items, offset, truncated, id) for a $skiptoken; raises CmdletError when expired or foreign."""
        try:
            snapshot_id, offset, issued, generation = _unb64(token).decode().split(":")
            offset, issued, generation = int(offset), float(issued), int(generation)
        except (ValueError, UnicodeDecodeError) as exc:
            raise skiptoken_error("it could not be decoded") from exc
        if generation != self.generation or time.time() - issued > float(self.engine.config["nextlink_ttl"]):
            raise skiptoken_error("it has expired")
        with self.lock:
            entry = self.items.get(snapshot_id)
        if entry is None:
            raise skiptoken_error("it has expired")
        if entry[2] != key:
            raise skiptoken_error("it belongs to a different request body")
        return entry[0], offset, entry[1], snapshot_id

    def expire_all(self):
        """Every outstanding next link becomes invalid."""
        with self.lock:
            self.generation += 1
            self.items.clear()


class Request:
    """One cmdlet call as it arrived: direct (site "invoke") or inside a $batch (site "sub")."""

    __slots__ = ("site", "tenant", "headers", "select", "skiptoken", "link_base", "path", "query", "target")

    def __init__(self, site, tenant, headers, query, link_base, path, target=None):
        self.site = site
        self.tenant = tenant
        self.headers = {str(key).lower(): str(value) for key, value in (headers or {}).items()}
        self.query = query
        self.skiptoken = (query.get("$skiptoken") or [None])[0]
        selected = (query.get("$select") or [None])[0]
        self.select = [name.strip() for name in selected.split(",") if name.strip()] if selected is not None else None
        self.link_base = link_base
        self.path = path  # without the query
        self.target = target or path  # with the query, as requested


class Answer:
    """What one unit answers; ``status`` may be DROP. ``pace`` = (bytes, seconds) slows the body."""

    __slots__ = ("status", "headers", "body", "delay", "pace")

    def __init__(self, status, headers=None, body=None, delay=0.0, pace=None):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.delay = delay
        self.pace = pace


class Engine:
    """Everything the server knows: tenant, authority, throttle, faults, stats, config."""

    def __init__(self, options, state_dir):
        self.options = dict(DEFAULTS)
        self.options.update({key: value for key, value in options.items() if value is not None})
        self.state_dir = state_dir
        started = time.monotonic()
        seed = int(self.options["seed"])
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, "tenant-%d.%s" % (seed, TENANT_DOMAIN)))
        self.tenant = Tenant(int(self.options["mailboxes"]), seed=seed, domain=TENANT_DOMAIN,
                             granted_fraction=float(self.options["granted_fraction"] or 0),
                             granted_user=self.options["granted_user"], custom_domain=CUSTOM_DOMAIN)
        self.records = MailboxRecords(TENANT_DOMAIN)
        self.authority = Authority(self.tenant_id, TENANT_DOMAIN, state_dir, custom_domains=(CUSTOM_DOMAIN,))
        self.directory = Directory(self.tenant_id, TENANT_DOMAIN, (CUSTOM_DOMAIN,), self.tenant)
        self.seed_seconds = time.monotonic() - started
        self.stats = Stats()
        self.faults = Faults()
        self.concurrency = Concurrency()
        self.reads = TokenBucket()
        self.writes = TokenBucket()
        self.snapshots = Snapshots(self)
        self.rng = random.Random()
        self.config = {}
        self.base_url = ""
        self.managed_identity = None  # the managed-identity token endpoint (managed_identity.py), set by build()
        self.graph = None  # the Microsoft Graph read endpoints (graph.py), set by build()
        self.targets = {"foreign": FOREIGN_HOST, "unresolvable": FOREIGN_HOST}
        self.sink = None
        self.configure({key: self.options[key] for key in RUNTIME_KEYS})

    # -- configuration ------------------------------------------------------------------

    def configure(self, changes):
        """Change runtime settings (see RUNTIME_KEYS); returns the full config."""
        unknown = sorted(set(changes) - set(RUNTIME_KEYS))
        if unknown:
            raise ValueError("unknown config keys: %s; known: %s" % (", ".join(unknown), ", ".join(RUNTIME_KEYS)))
        config = dict(self.config)
        for key, value in changes.items():
            if key in CHOICE_KEYS:
                if value not in CHOICE_KEYS[key]:
                    raise ValueError("%s must be one of %s" % (key, ", ".join(CHOICE_KEYS[key])))
                config[key] = value
            else:
                config[key] = float(value) if value is not None else 0.0
        config["max_concurrency"] = int(config["max_concurrency"])
        config["token_lifetime"] = int(config["token_lifetime"])
        self.config = config
        if {"read_rate", "read_burst"} & set(changes):
            self.reads.configure(config["read_rate"], config["read_burst"] or config["read_rate"])
        if {"write_rate", "write_burst"} & set(changes):
            self.writes.configure(config["write_rate"], config["write_burst"] or config["write_rate"])
        self.concurrency.limit = config["max_concurrency"]
        self.tenant.clock_skew = config["clock_skew"]
        self.authority.token_lifetime = config["token_lifetime"]
        return dict(config)

    def reset(self):
        """Back to the seeded state and the start options."""
        self.tenant.reset()
        self.faults.clear()
        self.config = {}
        self.configure({key: self.options[key] for key in RUNTIME_KEYS})
        self.reads.configure(self.config["read_rate"], self.config["read_burst"] or self.config["read_rate"])
        self.writes.configure(self.config["write_rate"], self.config["write_burst"] or self.config["write_rate"])
        self.authority.reset(self.config["token_lifetime"])
        self.snapshots.expire_all()
        self.stats.reset()
        if self.sink is not None:
            self.sink.clear()
        with self.concurrency.lock:
            self.concurrency.peak = self.concurrency.current

    def latency(self):
        """Seconds of latency for one request unit."""
        low, high = self.config["latency_ms"], self.config["latency_ms_max"]
        if high <= low:
            return low / 1000.0
        return self.rng.uniform(low, high) / 1000.0

    def retry_after(self, seconds):
        """Retry-After text for a throttled call: decimal seconds (the v3 module parses a double) or integer."""
        if self.config["retry_after_style"] == "integer":
            return str(max(1, int(-(-seconds // 1))))
        return "%.2f" % max(seconds, 0.01)

    def add_faults(self, specs):
        """Add fault rules; one-shot kinds act at once. Returns the active rules."""
        if isinstance(specs, dict):
            specs = specs.get("rules", [specs]) if "kind" not in specs else [specs]
        rules = [FaultRule(spec) for spec in specs]
        for rule in rules:
            if rule.kind == "expire_nextlinks":
                self.snapshots.expire_all()
            elif rule.kind == "revoke_tokens":
                self.authority.revoke_all()
        self.faults.add([rule for rule in rules if rule.kind not in ONE_SHOT])
        return self.faults.describe()

    def target_url(self, rule):
        """The base URL a redirect or next-link rule points at."""
        return (rule.url or self.targets[rule.target]).rstrip("/")

    def draw(self, site, cmdlet):
        """The fault rules that fire for one unit (counted in the stats)."""
        drawn = self.faults.draw(site, cmdlet)
        if drawn.fired:
            self.stats.count(faults_applied=drawn.fired)
        return drawn

    # -- one cmdlet call ------------------------------------------------------------------

    def unit(self, request, cmdlet_input):
        """Run one cmdlet call through faults, tenant, token, anchor, RBAC, binding, throttle and the cmdlet."""
        cmdlet = _cmdlet_name(cmdlet_input)
        drawn = self.draw(request.site, cmdlet)
        delay = drawn.delay + self.latency()
        terminal, nextlink = drawn.terminal, drawn.modifier("nextlink")
        if terminal is not None and not terminal.after:
            answer = self.fault_answer(terminal, request, cmdlet, delay)
        else:
            loop = nextlink is not None and nextlink.target == "loop" and not nextlink.url
            answer = self._execute(request, cmdlet_input, loop_next=loop)
            answer.delay = delay
            if terminal is not None:  # after: the cmdlet ran, the caller sees the fault
                answer = self.fault_answer(terminal, request, cmdlet, delay)
            elif nextlink is not None and not loop and answer.status == 200 and isinstance(answer.body, dict):
                answer.body["@odata.nextLink"] = self._foreign_link(nextlink, request, answer.body.get("@odata.nextLink"))
        self.modify(answer, drawn)
        return answer

    @staticmethod
    def modify(answer, drawn):
        """Apply the corrupt and trickle rules that fired to an answer."""
        corrupt = drawn.modifier("corrupt")
        if corrupt is not None and answer.status == 200:
            corrupt_answer(answer, corrupt)
        trickle = drawn.modifier("trickle")
        if trickle is not None:
            answer.pace = (trickle.chunk_bytes, trickle.every_ms / 1000.0)

    def _foreign_link(self, rule, request, link):
        """The next link moved to the rule's host (path and query kept; one made up when there was none)."""
        if link:
            rest = link.split("://", 1)[1]
            rest = rest[rest.find("/"):] if "/" in rest else "/"
        else:
            rest = "%s?%%24skiptoken=%s" % (request.path, _b64(uuid.uuid4().bytes))
        return self.target_url(rule) + rest

    def fault_answer(self, rule, request, cmdlet, delay):
        """The answer a terminal fault rule gives."""
        answer = FAULT_ANSWERS[rule.kind](self, rule, request, cmdlet)
        answer.delay = delay
        return answer

    def _execute(self, request, cmdlet_input, loop_next=False):
        """The service's own answer: tenant and token, consent, anchor, role, then the cmdlet."""
        app, refusal = self._authenticate(request)
        if refusal is None:
            refusal = self._route(request)
        if refusal is not None:
            return refusal
        try:
            if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletInput"), dict):
                raise cmdlets.binding("The request body must be {\"CmdletInput\": {\"CmdletName\": ..., \"Parameters\": {...}}}.")
            asked = cmdlet_input["CmdletInput"].get("CmdletName")
            name = cmdlets.canonical_name(asked or "")
            refusal = self._authorize(request, app, name, asked)
            if refusal is not None:
                return refusal
            return Answer(200, {}, self._run(request, cmdlet_input, name, loop_next))
        except CmdletError as error:
            return Answer(error.status, error.headers, error.body())

    def _authenticate(self, request):
        """(app, None) for a good token of this tenant named as the service expects, else (None, 401 answer)."""
        problem = self.directory.path_problem(request.tenant)
        try:
            if problem:
                raise TokenRejected(problem)
            app, _claims = self.authority.validate(request.headers.get("authorization"))
        except TokenRejected as exc:
            self.stats.count(auth_failures=1)
            return None, Answer(401, {"WWW-Authenticate": 'Bearer authorization_uri="%s/common/oauth2/authorize", '
                                                          'error="invalid_token", error_description="%s"' % (self.base_url, exc),
                                      "x-ms-diagnostics": '2000001;reason="%s";error_category="invalid_token"' % exc})
        if not app.roles:
            self.stats.count(auth_failures=1)
            reason = "The token does not contain the role Exchange.ManageAsApp: grant the application permission and admin consent"
            return None, Answer(401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % reason,
                                      "x-ms-diagnostics": '2000008;reason="%s";error_category="invalid_grant"' % reason})
        return app, None

    def _route(self, request):
        """None when X-AnchorMailbox routes to this tenant, else the 400 answer."""
        problem = self.directory.anchor_problem(request.headers.get("x-anchormailbox"))
        if not problem:
            return None
        self.stats.count(anchor_rejections=1)
        error = answers.anchor_error(request.headers.get("x-anchormailbox"), problem)
        return Answer(error.status, error.headers, error.body())

    def _authorize(self, request, app, name, asked):
        """None when the app's Exchange role may run the cmdlet, else the 403 (no role, unknown cmdlet) or 401 (read-only)."""
        if name is None or app.exchange_role is None:
            self.stats.count(forbidden=1)
            if app.exchange_role:
                reason = "The cmdlet '%s' is not available for this caller; the role assignments grant no such cmdlet." % asked
            else:
                reason = ("The user has no role assignment that allows running cmdlet '%s'; assign an Exchange administrator "
                          "role to the application's service principal." % asked)
            direct = request.site != "sub"
            return Answer(403, answers.forbidden_headers(reason, direct), answers.NUL_BODY if direct else None)
        if app.exchange_role == "read" and is_write(name):
            self.stats.count(not_allowed=1)
            headers, body = answers.not_allowed(name, self.base_url)
            return Answer(401, headers, body)
        return None

    def _run(self, request, cmdlet_input, name, loop_next):
        cmdlet_name, params = cmdlets.bind(name, cmdlet_input["CmdletInput"].get("Parameters"))
        bucket = self.writes if is_write(cmdlet_name) else self.reads
        allowed, seconds = bucket.take()
        if not allowed:
            retry = self.retry_after(seconds)
            raise CmdletError(429, "TooManyRequests", "ExF6E2B3", "Microsoft.Exchange.Admin.OData.Core.ThrottlingException",
                              answers.throttled_body(is_write(cmdlet_name), retry)["error"]["message"],
                              headers={"Retry-After": retry})
        skiptoken = request.skiptoken
        if skiptoken and cmdlet_name not in cmdlets.PAGED:
            raise skiptoken_error("%s does not page" % cmdlet_name)
        key = json.dumps(cmdlet_input["CmdletInput"], sort_keys=True)
        options = {"select": request.select, "lang": cmdlets.language(request.headers.get("accept-language")),
                   "loop_next": loop_next}
        call = cmdlets.Call(self, cmdlet_name, params, _page_size(request.headers.get("prefer")), skiptoken,
                            request.link_base, key, options)
        return cmdlets.run(call)

    # -- control --------------------------------------------------------------------------

    def info(self):
        """What GET /_emulator/info answers (the emulator.json content)."""
        path = os.path.join(self.state_dir, "emulator.json")
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    def anchors(self):
        """Routing hints the service accepts, for emulator.json."""
        return {"app_tenant_id": "APP:%s@%s" % (SYSTEM_MAILBOX, self.tenant_id),
                "app_initial_domain": "APP:%s@%s" % (SYSTEM_MAILBOX, TENANT_DOMAIN),
                "upn_initial_domain": "UPN:%s@%s" % (SYSTEM_MAILBOX, TENANT_DOMAIN)}


def _drop_answer(_engine, _rule, _request, _cmdlet):
    return Answer(DROP)


def _throttle_answer(_engine, rule, _request, cmdlet):
    retry = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
    return Answer(429, retry, answers.throttled_body(is_write(cmdlet or ""), rule.retry_after))


def _concurrency_answer(_engine, rule, _request, _cmdlet):
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if rule.retry_after is not None:
        headers["Retry-After"] = rule.retry_after
    return Answer(rule.status, headers, answers.CONCURRENCY_TEXT)


def _adminapi_error_answer(engine, rule, request, cmdlet):
    """A 200 whose @adminapi.errors says the cmdlet failed (it did not run)."""
    body = cmdlets.Call(engine, cmdlets.canonical_name(cmdlet or "") or "Get-Mailbox", {}, 1000, None,
                        request.link_base, "").answer([])
    body["@adminapi.errors"] = list(rule.errors)
    return Answer(200, {}, body)


def _routing_error_answer(_engine, rule, _request, _cmdlet):
    error = answers.routing_error(rule.status)
    return Answer(error.status, error.headers, error.body())


def _redirect_answer(engine, rule, request, _cmdlet):
    engine.stats.count(redirects=1)
    return Answer(rule.status, {"Location": engine.target_url(rule) + request.target})


def _status_answer(_engine, rule, _request, _cmdlet):
    headers = {"Retry-After": rule.retry_after} if rule.status in (429, 503) and rule.retry_after is not None else {}
    if rule.body is not None:
        return Answer(rule.status, headers, rule.body)
    return Answer(rule.status, headers, answers.transient_body(rule.status, rule.exception, rule.message))


FAULT_ANSWERS = {"drop": _drop_answer, "throttle": _throttle_answer, "concurrency": _concurrency_answer,
                 "adminapi_error": _adminapi_error_answer, "routing_error": _routing_error_answer,
                 "redirect": _redirect_answer, "status": _status_answer}


def _cmdlet_name(body):
    if isinstance(body, dict) and isinstance(body.get("CmdletInput"), dict):
        return body["CmdletInput"].get("CmdletName")
    return None


def _page_size(prefer):
    for part in str(prefer or "").replace(",", ";").split(";"):
        name, _sep, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize":
            try:
                return min(max(int(value.strip()), 1), 1000)
            except ValueError:
                return 1000
    return 1000


def corrupt_answer(answer, rule):
    """Replace or break the body of a 200 answer as a corrupt rule says (the change already happened)."""
    mode, body = rule.mode, answer.body
    if mode == "html":
        answer.body = answers.MAINTENANCE_HTML
        answer.headers["Content-Type"] = "text/html; charset=utf-8"
    elif mode == "truncated":
        text = encode(body) if isinstance(body, (dict, list)) else str(body or "")
        answer.body = text[:max(len(text) // 2, 1)].encode()
        answer.headers["Content-Type"] = answers.JSON_TYPE
    elif mode == "empty":
        answer.body = b""
        answer.headers["Content-Type"] = answers.JSON_TYPE
    elif mode == "json_error":
        answer.body = answers.json_error_200()
    elif mode == "value_not_list" and isinstance(body, dict):
        value = body.get("value")
        items = value.decoded() if isinstance(value, RawArray) else list(value or [])
        body["value"] = items[0] if items else {"@odata.type": "#Exchange.GenericHashTable"}
    elif mode == "missing_ids" and isinstance(body, dict):
        body["responses"] = body.get("responses", [])[rule.missing:]
    if rule.content_type:
        answer.headers["Content-Type"] = rule.content_type
