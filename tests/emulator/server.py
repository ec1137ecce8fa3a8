"""The emulator's HTTPS server: Entra token endpoints, InvokeCommand, $batch and the
control API, on one stdlib ThreadingHTTPServer with TLS and HTTP/1.1 keep-alive."""
from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import EXCHANGE_RESOURCE, TENANT_DOMAIN, cmdlets, org, pki
from .managed_identity import ManagedIdentityEndpoint
from .auth import AuthError, Authority, TokenRejected
from .cmdlets import CmdletError
from .policy import Concurrency, FaultRule, Faults, Stats, TokenBucket, is_write
from .tenant import Tenant

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
CONCURRENCY_TEXT = ("You have reached the maximum number of concurrent requests per tenant. Please wait for existing "
                    "requests to complete and try again.")
MAX_BATCH = 10
DROP = object()
DEFAULTS = {
    "mailboxes": 250, "seed": 1, "port": 0, "latency_ms": 0.0, "latency_ms_max": 0.0,
    "read_rate": 0.0, "read_burst": 0.0, "write_rate": 0.0, "write_burst": 0.0, "max_concurrency": 0,
    "token_lifetime": 3599, "nextlink_ttl": 300.0, "replication_delay": 0.0,
    "granted_fraction": 0.0, "granted_user": None,
}
RUNTIME_KEYS = ("latency_ms", "latency_ms_max", "read_rate", "read_burst", "write_rate", "write_burst", "max_concurrency",
                "token_lifetime", "nextlink_ttl", "replication_delay")


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def skiptoken_error(reason):
    """The answer to an expired or foreign $skiptoken (400, see README)."""
    return CmdletError(400, "BadRequest", "ExE1F0C6", "Microsoft.Exchange.Admin.OData.Core.InvalidSkipTokenException",
                       "The $skiptoken is not valid: %s. Send the request again without $skiptoken to start the listing "
                       "over." % reason)


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
                             granted_user=self.options["granted_user"])
        self.authority = Authority(self.tenant_id, TENANT_DOMAIN, state_dir)
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
        self.managed_identity = None
        self.configure({key: self.options[key] for key in RUNTIME_KEYS})

    # -- configuration ------------------------------------------------------------------

    def configure(self, changes):
        """Change runtime settings (see RUNTIME_KEYS); returns the full config."""
        unknown = sorted(set(changes) - set(RUNTIME_KEYS))
        if unknown:
            raise ValueError("unknown config keys: %s; known: %s" % (", ".join(unknown), ", ".join(RUNTIME_KEYS)))
        config = dict(self.config)
        for key, value in changes.items():
            config[key] = float(value) if value is not None else 0.0
        config["max_concurrency"] = int(config["max_concurrency"])
        config["token_lifetime"] = int(config["token_lifetime"])
        self.config = config
        if {"read_rate", "read_burst"} & set(changes):
            self.reads.configure(config["read_rate"], config["read_burst"] or config["read_rate"])
        if {"write_rate", "write_burst"} & set(changes):
            self.writes.configure(config["write_rate"], config["write_burst"] or config["write_rate"])
        self.concurrency.limit = config["max_concurrency"]
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
        with self.concurrency.lock:
            self.concurrency.peak = self.concurrency.current

    def latency(self):
        """Seconds of latency for one request unit."""
        low, high = self.config["latency_ms"], self.config["latency_ms_max"]
        if high <= low:
            return low / 1000.0
        return self.rng.uniform(low, high) / 1000.0

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
        self.faults.add([rule for rule in rules if rule.kind not in ("expire_nextlinks", "revoke_tokens")])
        return self.faults.describe()

    # -- one cmdlet call ------------------------------------------------------------------

    def unit(self, site, tenant, authorization, cmdlet_input, prefer, skiptoken, link_base):
        """Run one cmdlet call through faults, auth, binding, throttle and the cmdlet.

        Returns (status, headers, body, seconds of latency) or (DROP, ...).
        """
        cmdlet = None
        if isinstance(cmdlet_input, dict) and isinstance(cmdlet_input.get("CmdletInput"), dict):
            cmdlet = cmdlet_input["CmdletInput"].get("CmdletName")
        fault, delay = self.faults.draw(site, cmdlet)
        delay += self.latency()
        if fault is not None:
            self.stats.count(faults_applied=1)
        after = fault is not None and fault.spec.get("after")
        if fault is not None and not after:
            return self._fault_answer(fault, cmdlet) + (delay,)
        status, headers, body = self._execute(tenant, authorization, cmdlet_input, cmdlet, prefer, skiptoken, link_base)
        if fault is not None:
            return self._fault_answer(fault, cmdlet) + (delay,)
        return status, headers, body, delay

    def _fault_answer(self, fault, cmdlet):
        if fault.kind == "drop":
            return DROP, {}, None
        if fault.kind == "throttle":
            return 429, {"Retry-After": str(fault.retry_after)}, throttled_body(cmdlet, fault.retry_after)
        headers = {"Retry-After": str(fault.retry_after)} if fault.status in (429, 503) else {}
        if fault.body is not None:
            return fault.status, headers, fault.body
        return fault.status, headers, transient_body(fault.status, fault.exception)

    def _execute(self, tenant, authorization, cmdlet_input, cmdlet, prefer, skiptoken, link_base):
        try:
            app, _claims = self.authority.validate(authorization, tenant)
        except TokenRejected as exc:
            self.stats.count(auth_failures=1)
            return 401, {"WWW-Authenticate": 'Bearer authorization_uri="%s/common/oauth2/authorize", error="invalid_token", '
                                             'error_description="%s"' % (self.base_url, exc),
                         "x-ms-diagnostics": '2000001;reason="%s";error_category="invalid_token"' % exc}, None
        if not app.roles:
            self.stats.count(auth_failures=1)
            reason = "The token does not contain the role Exchange.ManageAsApp: grant the application permission and admin consent"
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % reason,
                         "x-ms-diagnostics": '2000008;reason="%s";error_category="invalid_grant"' % reason}, None
        if not app.exchange_role:
            self.stats.count(forbidden=1)
            error = cmdlets.forbidden("The user has no role assignment that allows running cmdlet '%s'; assign an Exchange "
                                      "administrator role to the application's service principal." % cmdlet)
            return error.status, error.headers, None
        try:
            if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletInput"), dict):
                raise cmdlets.binding("The request body must be {\"CmdletInput\": {\"CmdletName\": ..., \"Parameters\": {...}}}.")
            name, params = cmdlets.bind(cmdlet, cmdlet_input["CmdletInput"].get("Parameters"))
            bucket = self.writes if is_write(name) else self.reads
            allowed, retry_after = bucket.take()
            if not allowed:
                return 429, {"Retry-After": str(retry_after)}, throttled_body(name, retry_after)
            page_size = _page_size(prefer)
            key = json.dumps(cmdlet_input["CmdletInput"], sort_keys=True)
            if skiptoken and name not in cmdlets.PAGED:
                raise skiptoken_error("%s does not page" % name)
            call = cmdlets.Call(self, name, params, page_size, skiptoken, link_base, key)
            return 200, {}, cmdlets.run(call)
        except CmdletError as error:
            if error.status == 403:
                self.stats.count(forbidden=1)
            return error.status, error.headers, error.body()

    # -- control --------------------------------------------------------------------------

    def info(self):
        """What GET /_emulator/info answers (the emulator.json content)."""
        path = os.path.join(self.state_dir, "emulator.json")
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)


def _page_size(prefer):
    for part in str(prefer or "").split(","):
        name, _sep, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize":
            try:
                return min(max(int(value.strip()), 1), 1000)
            except ValueError:
                return 1000
    return 1000


def throttled_body(cmdlet, seconds):
    """The JSON body of a 429 for one cmdlet call."""
    text = "The request was throttled: the tenant's budget for %s cmdlets is exhausted. Retry after %d seconds." % (
        "write" if cmdlet and is_write(cmdlet) else "read", seconds)
    return {"error": {"code": "TooManyRequests", "message": text, "details": [
        {"code": "ExF6E2B3", "target": "", "message": "ExF6E2B3|Microsoft.Exchange.Admin.OData.Core.ThrottlingException|"
                                                      + text}]}}


def transient_body(status, exception):
    """The JSON body of an injected 5xx (or other status)."""
    text = {
        "Microsoft.Exchange.Data.Storage.StorageTransientException": "Cannot open mailbox. The server is busy; try again later.",
        "Microsoft.Exchange.Data.Directory.DCOverloadedException": "The domain controller is overloaded; try again later.",
    }.get(exception, "A transient server error occurred; try again later.")
    codes = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
    code = codes.get(status, "Error")
    message = "Ex9F3A8D|%s|%s" % (exception, text)
    return {"error": {"code": code, "message": "Error executing cmdlet",
                      "details": [{"code": "Ex9F3A8D", "target": "", "message": message}],
                      "innererror": {"message": message, "type": exception, "stacktrace": ""}}}


class Handler(BaseHTTPRequestHandler):
    """One connection; requests on it are answered one by one (keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120

    def setup(self):
        super().setup()
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """No access log."""

    # -- plumbing ---------------------------------------------------------------------

    @property
    def engine(self):
        """The server's Engine."""
        return self.server.engine

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self):
        raw = self._body()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return ValueError

    def send(self, status, headers=None, body=None):
        """Write a whole response at once (dict/list body -> JSON, str -> text, None -> empty)."""
        headers = dict(headers or {})
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", JSON_TYPE)
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Date: " + self.date_time_string(),
                 "Server: Microsoft-IIS/10.0", "request-id: " + str(uuid.uuid4()), "Content-Length: %d" % len(payload)]
        lines.extend("%s: %s" % (name, value) for name, value in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    def drop(self):
        """Close the connection without an answer."""
        self.close_connection = True
        self.engine.stats.count(dropped=1)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _route(self, method):
        path = urlsplit(self.path)
        parts = [unquote(part) for part in path.path.split("/") if part]
        query = parse_qs(path.query)
        if self.engine.managed_identity and self.engine.managed_identity.matches(method, self.path):
            return self.send(*self.engine.managed_identity.answer(self.headers, query))
        if parts[:1] == ["_emulator"]:
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                return self.send(403, body={"error": "the control API answers loopback clients only"})
            return self.control(method, parts[1:], query)
        if method == "POST" and len(parts) == 4 and parts[:2] == ["adminapi", "beta"]:
            if parts[3].lower() == "invokecommand":
                return self.invoke(parts[2], query)
            if parts[3].lower() == "$batch":
                return self.batch(parts[2])
        if len(parts) >= 2:
            tenant, rest = parts[0], "/".join(parts[1:])
            if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
                return self.openid(tenant)
            if method == "GET" and rest == "discovery/v2.0/keys":
                self.engine.stats.outer("keys", 200)
                return self.send(200, body=self.engine.authority.jwks())
            if method == "POST" and rest == "oauth2/v2.0/token":
                return self.token(tenant)
        self._body()
        self.engine.stats.outer("unknown", 404)
        return self.send(404, body={"error": {"code": "NotFound", "message": "No route for %s %s" % (method, path.path)}})

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self._route("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        """POST."""
        self._route("POST")

    def do_DELETE(self):  # pylint: disable=invalid-name
        """DELETE."""
        self._route("DELETE")

    # -- Entra ------------------------------------------------------------------------

    def openid(self, tenant):
        """OpenID configuration."""
        engine = self.engine
        try:
            body = engine.authority.openid_configuration(engine.base_url, tenant)
        except AuthError as error:
            engine.stats.outer("openid", error.status)
            return self.send(error.status, body=error.body())
        engine.stats.outer("openid", 200)
        return self.send(200, body=body)

    def token(self, tenant):
        """The client-credentials token endpoint."""
        engine = self.engine
        raw = self._body().decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
        basic = self.headers.get("Authorization", "")
        if basic[:6].lower() == "basic ":
            try:
                client_id, _sep, secret = base64.b64decode(basic[6:]).decode().partition(":")
                form.setdefault("client_id", unquote(client_id))
                form.setdefault("client_secret", unquote(secret))
            except ValueError:
                pass
        fault, delay = engine.faults.draw("token", None)
        if delay:
            time.sleep(delay)
        if fault is not None:
            engine.stats.count(faults_applied=1)
            if fault.kind == "drop":
                return self.drop()
            status = 429 if fault.kind == "throttle" else fault.status
            engine.stats.outer("token", status)
            return self.send(status, {"Retry-After": str(fault.retry_after)}, AuthError(
                status, "temporarily_unavailable", 50196 if status == 429 else 90033,
                "The server is temporarily unavailable.").body())
        try:
            body = engine.authority.token(engine.base_url, tenant, form, engine.base_url + urlsplit(self.path).path)
        except AuthError as error:
            engine.stats.count(token_errors=1)
            engine.stats.outer("token", error.status)
            return self.send(error.status, {"Cache-Control": "no-store, no-cache"}, error.body())
        engine.stats.count(tokens_issued=1)
        engine.stats.outer("token", 200)
        return self.send(200, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}, body)

    # -- Exchange -----------------------------------------------------------------------

    def _link_base(self, tenant):
        return "%s/adminapi/beta/%s/InvokeCommand" % (self.engine.base_url, tenant)

    def invoke(self, tenant, query):
        """POST /adminapi/beta/{tenant}/InvokeCommand."""
        engine = self.engine
        body = self._json_body()
        if not engine.concurrency.enter():
            engine.stats.count(concurrency_rejections=1)
            engine.stats.outer("invoke", 429)
            return self.send(429, {"Retry-After": "1"}, CONCURRENCY_TEXT)
        try:
            skiptoken = (query.get("$skiptoken") or [None])[0]
            status, headers, answer, delay = engine.unit(
                "invoke", tenant, self.headers.get("Authorization"), None if body is ValueError else body,
                self.headers.get("Prefer"), skiptoken, self._link_base(tenant))
            cmdlet = _cmdlet_name(body)
            if delay:
                time.sleep(delay)
        finally:
            engine.concurrency.leave()
        engine.stats.cmdlet(cmdlet, status if status is not DROP else "dropped", False)
        if status is DROP:
            engine.stats.outer("invoke", "dropped")
            return self.drop()
        engine.stats.outer("invoke", status)
        return self.send(status, headers, answer)

    def batch(self, tenant):
        """POST /adminapi/beta/{tenant}/$batch: sub-requests run 'in parallel' (latency = the slowest one)."""
        engine = self.engine
        body = self._json_body()
        if not engine.concurrency.enter():
            engine.stats.count(concurrency_rejections=1)
            engine.stats.outer("batch", 429)
            return self.send(429, {"Retry-After": "1"}, CONCURRENCY_TEXT)
        try:
            status, headers, answer, delay = self._batch(tenant, body)
            if delay:
                time.sleep(delay)
        finally:
            engine.concurrency.leave()
        engine.stats.count(batches=1)
        if status is DROP:
            engine.stats.outer("batch", "dropped")
            return self.drop()
        engine.stats.outer("batch", status)
        return self.send(status, headers, answer)

    def _batch(self, tenant, body):
        engine = self.engine
        fault, delay = engine.faults.draw("batch", None)
        delay += 0.0
        if fault is not None:
            engine.stats.count(faults_applied=1)
            return engine._fault_answer(fault, None) + (delay,)  # pylint: disable=protected-access
        authorization = self.headers.get("Authorization")
        try:
            engine.authority.validate(authorization, tenant)
        except TokenRejected as exc:
            engine.stats.count(auth_failures=1)
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % exc}, None, delay
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return 400, {}, _batch_error("The batch request body must be {\"requests\": [...]} with at least one request."), delay
        if len(requests) > MAX_BATCH:
            text = "The batch request contains %d requests; the maximum is %d." % (len(requests), MAX_BATCH)
            return 400, {}, _batch_error(text), delay
        ids = [str(item.get("id")) if isinstance(item, dict) else None for item in requests]
        if None in ids or len(set(ids)) != len(ids):
            return 400, {}, _batch_error("Every request in a batch needs a unique id."), delay
        responses, slowest = [], 0.0
        outer_prefer = self.headers.get("Prefer")
        for item, request_id in zip(requests, ids):
            sub_headers = {str(key).lower(): value for key, value in (item.get("headers") or {}).items()}
            url = urlsplit(str(item.get("url", "")))
            parts = [unquote(part) for part in url.path.split("/") if part]
            if str(item.get("method", "POST")).upper() != "POST" or len(parts) != 4 or parts[:2] != ["adminapi", "beta"] \
                    or parts[3].lower() != "invokecommand":
                responses.append({"id": request_id, "status": 400, "headers": {"Content-Type": JSON_TYPE},
                                  "body": _batch_error("Only POST to /adminapi/beta/{tenant}/InvokeCommand can be batched.")})
                engine.stats.cmdlet(None, 400, True)
                continue
            skiptoken = (parse_qs(url.query).get("$skiptoken") or [None])[0]
            status, headers, answer, sub_delay = engine.unit(
                "sub", parts[2], sub_headers.get("authorization", authorization), item.get("body"),
                sub_headers.get("prefer", outer_prefer), skiptoken, self._link_base(parts[2]))
            engine.stats.cmdlet(_cmdlet_name(item.get("body")), status if status is not DROP else "dropped", True)
            if status is DROP:
                return DROP, {}, None, delay + max(slowest, sub_delay)
            slowest = max(slowest, sub_delay)
            entry = {"id": request_id, "status": status, "headers": dict(headers)}
            if answer is not None:
                entry["headers"]["Content-Type"] = JSON_TYPE if not isinstance(answer, str) else "text/plain; charset=utf-8"
                entry["body"] = answer
            responses.append(entry)
        return 200, {}, {"responses": responses}, delay + slowest

    # -- control API -------------------------------------------------------------------

    def control(self, method, parts, query):
        """/_emulator/... (no auth; loopback only)."""
        engine = self.engine
        body = self._json_body() if method in ("POST", "DELETE") else None
        if body is ValueError:
            return self.send(400, body={"error": "the body is not JSON"})
        route = "/".join(parts)
        try:
            if method == "GET" and route in ("health", ""):
                return self.send(200, body={"ok": True, "pid": os.getpid()})
            if method == "GET" and route == "info":
                return self.send(200, body=engine.info())
            if method == "GET" and route == "stats":
                return self.send(200, body=engine.stats.snapshot(engine.concurrency))
            if method == "POST" and route == "stats/reset":
                engine.stats.reset()
                return self.send(200, body={"ok": True})
            if method == "POST" and route == "reset":
                started = time.monotonic()
                engine.reset()
                return self.send(200, body={"ok": True, "seconds": round(time.monotonic() - started, 4)})
            if method == "GET" and route == "config":
                return self.send(200, body=engine.config)
            if method == "POST" and route == "config":
                return self.send(200, body=engine.configure(body or {}))
            if route == "faults":
                if method == "GET":
                    return self.send(200, body={"rules": engine.faults.describe()})
                if method == "POST":
                    return self.send(200, body={"rules": engine.add_faults(body or [])})
                if method == "DELETE":
                    engine.faults.clear()
                    return self.send(200, body={"rules": []})
            if method == "POST" and route == "tokens/revoke":
                engine.authority.revoke_all()
                return self.send(200, body={"ok": True})
            if method == "POST" and route == "mailboxes":
                return self.add_mailboxes(body or {})
            if method == "GET" and route == "mailboxes":
                return self.list_mailboxes(query)
            if route == "acl":
                if method == "GET":
                    return self.get_acl((query.get("identity") or [""])[0])
                if method == "POST":
                    return self.set_acl(body or {})
            if route == "org":
                return self.send(200, body=org.control(engine.tenant, method, body))
            if method == "POST" and route == "shutdown":
                self.send(200, body={"ok": True})
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return None
        except (ValueError, TypeError, KeyError) as exc:
            return self.send(400, body={"error": str(exc)})
        return self.send(404, body={"error": "no control route %s %s" % (method, route)})

    def add_mailboxes(self, body):
        """POST /_emulator/mailboxes."""
        engine = self.engine
        delay = body.get("replication_delay")
        if delay is None:
            delay = engine.config["replication_delay"]
        created = engine.tenant.add_mailboxes(int(body.get("count") or 0), body.get("mailboxes"), float(delay or 0))
        return self.send(200, body={"mailboxes": [mailbox.record(engine.tenant.domain) for mailbox in created]})

    def list_mailboxes(self, query):
        """GET /_emulator/mailboxes?offset=&limit= (compact rows)."""
        tenant = self.engine.tenant
        offset = int((query.get("offset") or ["0"])[0])
        limit = int((query.get("limit") or ["1000"])[0])
        rows = [{"Guid": m.guid, "UserPrincipalName": m.upn, "PrimarySmtpAddress": m.smtp, "Name": m.name,
                 "RecipientTypeDetails": m.rtd, "Seeded": m.seeded} for m in tenant.mailboxes[offset:offset + limit]]
        return self.send(200, body={"total": len(tenant.mailboxes), "mailboxes": rows})

    def get_acl(self, identity):
        """GET /_emulator/acl?identity=X."""
        tenant = self.engine.tenant
        mailbox = tenant.find_mailbox(identity)
        if mailbox is None:
            return self.send(404, body={"error": "no mailbox %r" % identity})
        with tenant.lock:
            rows = [ace.as_control() for ace in tenant.acl(mailbox)]
        return self.send(200, body={"identity": mailbox.name, "guid": mailbox.guid, "upn": mailbox.upn,
                                    "changed": mailbox.guid in tenant.acl_changes, "acl": rows})

    def set_acl(self, body):
        """POST /_emulator/acl: add rows (or replace the explicit rows) on one or more mailboxes."""
        from .tenant import Ace  # pylint: disable=import-outside-toplevel
        tenant = self.engine.tenant
        identities = body.get("identities") or [body.get("identity")]
        rows = body.get("rows")
        if rows is None:
            rows = [{key: body[key] for key in body if key not in ("identity", "identities", "replace")}]
        changed = []
        with tenant.lock:
            for identity in identities:
                mailbox = tenant.find_mailbox(identity or "")
                if mailbox is None:
                    raise ValueError("no mailbox %r" % identity)
                acl = tenant.editable_acl(mailbox)
                if body.get("replace"):
                    acl[:] = [ace for ace in acl if ace.inherited or ace.user == "NT AUTHORITY\\SELF"]
                for row in rows:
                    user = row.get("user") or row.get("User")
                    recipient = tenant.resolve(user) if user else None
                    name = recipient.trustee_name if recipient is not None else user
                    if not name:
                        raise ValueError("each row needs a user")
                    rights = row.get("access_rights") or row.get("AccessRights") or ["FullAccess"]
                    acl.append(Ace(name, [rights] if isinstance(rights, str) else rights,
                                   deny=bool(row.get("deny", row.get("Deny", False))),
                                   inherited=bool(row.get("inherited", row.get("IsInherited", False))),
                                   inheritance=row.get("inheritance_type", row.get("InheritanceType", "All")),
                                   auto_mapping=row.get("auto_mapping", row.get("AutoMapping")),
                                   sid=tenant.trustee_sid(recipient) if recipient is not None else ""))
                changed.append(mailbox.name)
        return self.send(200, body={"changed": changed})


def _cmdlet_name(body):
    if isinstance(body, dict) and isinstance(body.get("CmdletInput"), dict):
        return body["CmdletInput"].get("CmdletName")
    return None


def _batch_error(text):
    return {"error": {"code": "BadRequest", "message": text, "details": [], "innererror": {"message": text}}}


class Server(ThreadingHTTPServer):
    """Threaded HTTPS server (TLS handshakes happen in the connection threads)."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address, engine, context):
        super().__init__(address, Handler)
        self.engine = engine
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        """Connection-level errors (resets, TLS failures) are normal here; others go to stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


def _write(path, data, mode=0o600):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def build(state_dir, options):
    """Create the state files, the engine and the bound (not yet serving) server; returns (server, info)."""
    started = time.monotonic()
    os.makedirs(state_dir, exist_ok=True)
    state_dir = os.path.abspath(state_dir)
    engine = Engine(options, state_dir)
    ca_key, ca_cert = pki.make_ca()
    server_key, server_cert = pki.make_server_cert(ca_key, ca_cert)
    ca_path = os.path.join(state_dir, "ca.pem")
    _write(ca_path, pki.cert_pem(ca_cert), 0o644)
    chain_path = os.path.join(state_dir, "server.pem")
    _write(chain_path, pki.cert_pem(server_cert) + pki.cert_pem(ca_cert) + pki.key_pem(server_key))
    authority = engine.authority
    cert_pem_path = os.path.join(state_dir, "app-cert.pem")
    _write(cert_pem_path, pki.cert_pem(authority.app_cert) + pki.key_pem(authority.app_cert_key))
    pfx_path = os.path.join(state_dir, "app-cert.pfx")
    _write(pfx_path, pki.pfx_bytes(authority.app_cert_key, authority.app_cert, authority.pfx_password))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_path)
    server = Server(("127.0.0.1", int(engine.options["port"])), engine, context)
    port = server.server_address[1]
    base_url = "https://127.0.0.1:%d" % port
    engine.base_url = base_url
    authority.base_url = base_url
    engine.managed_identity = ManagedIdentityEndpoint(engine, base_url)
    apps = {}
    for name in ("secret", "certificate", "no_role", "no_consent"):
        app = authority.app(name)
        entry = {"client_id": app.client_id}
        if app.secret:
            entry["client_secret"] = app.secret
        if app.cert is not None:
            entry.update({"cert_pem_path": cert_pem_path, "pfx_path": pfx_path, "pfx_password": authority.pfx_password,
                          "thumbprint": pki.sha1_thumbprint(app.cert), "thumbprint_sha256": pki.sha256_thumbprint(app.cert)})
        apps[name] = entry
    info = {
        "base_url": base_url, "login_url": base_url, "exchange_url": base_url, "control_url": base_url + "/_emulator",
        "resource": EXCHANGE_RESOURCE, "ca_path": ca_path, "pid": os.getpid(), "port": port,
        "tenant_id": engine.tenant_id, "tenant_domain": TENANT_DOMAIN,
        "service_account": engine.tenant.service_account_upn.lower(),
        "service_account_stored": engine.tenant.service_account_upn,
        "mailboxes": len(engine.tenant.mailboxes), "seed": int(engine.options["seed"]),
        "options": {key: engine.options[key] for key in sorted(DEFAULTS)},
        "apps": apps, "managed_identity": engine.managed_identity.describe(), "state_dir": state_dir,
        "startup_seconds": round(time.monotonic() - started, 3), "seed_seconds": round(engine.seed_seconds, 3),
    }
    return server, info


def serve(state_dir, options):
    """Run in the foreground until SIGTERM/SIGINT or POST /_emulator/shutdown."""
    server, info = build(state_dir, options)
    path = os.path.join(info["state_dir"], "emulator.json")
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    os.replace(temporary, path)

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
