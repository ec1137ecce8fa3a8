"""The emulator's HTTPS server: Entra token endpoints, InvokeCommand, $batch and the control
API on one stdlib ThreadingHTTPServer with TLS and HTTP/1.1 keep-alive, plus the sink
listeners (sink.py). What each answer contains is decided in engine.py."""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import CUSTOM_DOMAIN, EXCHANGE_RESOURCE, TENANT_DOMAIN, answers, control_api, pki
from .auth import AuthError, TokenRejected
from .engine import DEFAULTS, DROP, Answer, Engine, Request
from .jsontext import RawArray, encode
from .graph import GraphEndpoint
from .managed_identity import ManagedIdentityEndpoint
from .sink import Sink

JSON_TYPE = answers.JSON_TYPE
MAX_BATCH = 10
TRANSFER_CHUNK = 65536


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

    def send(self, status, headers=None, body=None, pace=None, paced=True):
        """Write one response (dict/list body -> JSON, str -> text, bytes as they are, None -> empty).

        The body goes out at the configured transfer rate (``paced``) or, for a trickle fault,
        ``pace`` = (bytes, seconds) at a time; the headers go first either way.
        """
        headers = dict(headers or {})
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = encode(body).encode()
            headers.setdefault("Content-Type", JSON_TYPE)
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Date: " + self.date_time_string(self.engine.tenant.now().timestamp()),
                 "Server: Microsoft-IIS/10.0", "request-id: " + str(uuid.uuid4()), "Content-Length: %d" % len(payload)]
        lines.extend("%s: %s" % (name, value) for name, value in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        rate = float(self.engine.config.get("transfer_rate") or 0) if paced else 0.0
        if pace is None and rate <= 0:
            self.wfile.write(head + payload)
            return
        self.wfile.write(head)
        if pace is not None:
            self._trickle(payload, *pace)
        else:
            self._transfer(payload, rate)

    def _transfer(self, payload, rate):
        """Send at ``rate`` bytes per second (the transfer-rate model)."""
        for start in range(0, len(payload), TRANSFER_CHUNK):
            piece = payload[start:start + TRANSFER_CHUNK]
            time.sleep(len(piece) / rate)
            self.wfile.write(piece)

    def _trickle(self, payload, chunk, interval):
        """Send ``chunk`` bytes every ``interval`` seconds (a per-read timeout never fires)."""
        for start in range(0, len(payload), chunk):
            if start:
                time.sleep(interval)
            self.wfile.write(payload[start:start + chunk])

    def reply(self, status, body):
        """A control API answer (never paced)."""
        return self.send(status, body=body, paced=False)

    def answer(self, endpoint, answer):
        """Send an engine Answer (or drop the connection) and count it."""
        if answer.status is DROP:
            self.engine.stats.outer(endpoint, "dropped")
            return self.drop()
        self.engine.stats.outer(endpoint, answer.status)
        return self.send(answer.status, answer.headers, answer.body, pace=answer.pace)

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
            status, headers, body = self.engine.managed_identity.answer(self.headers, query)
            return self.send(status, headers, body, paced=False)
        if self.engine.graph and self.engine.graph.matches(method, path.path):
            status, headers, body = self.engine.graph.answer(method, self.headers, path.path, query)
            return self.send(status, headers, body, paced=False)
        if parts[:1] == ["_emulator"]:
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                return self.reply(403, {"error": "the control API answers loopback clients only"})
            body = self._json_body() if method in ("POST", "DELETE") else None
            if body is ValueError:
                return self.reply(400, {"error": "the body is not JSON"})
            return control_api.handle(self, method, parts[1:], query, body)
        if method == "POST" and len(parts) == 4 and parts[:2] == ["adminapi", "beta"]:
            if parts[3].lower() == "invokecommand":
                return self.invoke(parts[2], query, path.path)
            if parts[3].lower() == "$batch":
                return self.batch(parts[2], path.path)
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
        form = self._token_form()
        drawn = engine.draw("token", None)
        if drawn.delay:
            time.sleep(drawn.delay)
        rule = drawn.terminal
        if rule is not None and not rule.after:
            return self.answer("token", self._token_fault(rule))
        answer = self._issue(tenant, form)
        if rule is not None:
            answer = self._token_fault(rule)
        Engine.modify(answer, drawn)
        return self.answer("token", answer)

    def _token_form(self):
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
        return form

    def _issue(self, tenant, form):
        engine = self.engine
        try:
            body = engine.authority.token(engine.base_url, tenant, form, engine.base_url + urlsplit(self.path).path)
        except AuthError as error:
            engine.stats.count(token_errors=1)
            return Answer(error.status, {"Cache-Control": "no-store, no-cache"}, error.body())
        engine.stats.count(tokens_issued=1)
        return Answer(200, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}, body)

    def _token_fault(self, rule):
        if rule.kind == "drop":
            return Answer(DROP)
        if rule.kind == "redirect":
            self.engine.stats.count(redirects=1)
            return Answer(rule.status, {"Location": self.engine.target_url(rule) + self.path})
        status = 429 if rule.kind == "throttle" else rule.status
        headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
        if rule.body is not None:
            return Answer(status, headers, rule.body)
        return Answer(status, headers, AuthError(status, "temporarily_unavailable", 50196 if status == 429 else 90033,
                                                 "The server is temporarily unavailable.").body())

    # -- Exchange -----------------------------------------------------------------------

    def _link_base(self, tenant):
        return "%s/adminapi/beta/%s/InvokeCommand" % (self.engine.base_url, tenant)

    def _concurrency_rejection(self, endpoint):
        self.engine.stats.count(concurrency_rejections=1)
        self.engine.stats.outer(endpoint, 429)
        return self.send(429, {"Retry-After": "1"}, answers.CONCURRENCY_TEXT)

    def invoke(self, tenant, query, path):
        """POST /adminapi/beta/{tenant}/InvokeCommand."""
        engine = self.engine
        body = self._json_body()
        if not engine.concurrency.enter():
            return self._concurrency_rejection("invoke")
        try:
            request = Request("invoke", tenant, dict(self.headers.items()), query, self._link_base(tenant), path, self.path)
            answer = engine.unit(request, None if body is ValueError else body)
            if answer.delay:
                time.sleep(answer.delay)
        finally:
            engine.concurrency.leave()
        engine.stats.cmdlet(_cmdlet_name(body), answer.status if answer.status is not DROP else "dropped", False)
        return self.answer("invoke", answer)

    def batch(self, tenant, path):
        """POST /adminapi/beta/{tenant}/$batch: sub-requests run 'in parallel' (latency = the slowest one)."""
        engine = self.engine
        body = self._json_body()
        if not engine.concurrency.enter():
            return self._concurrency_rejection("batch")
        try:
            answer = self._batch(tenant, body, path)
            if answer.delay:
                time.sleep(answer.delay)
        finally:
            engine.concurrency.leave()
        engine.stats.count(batches=1)
        return self.answer("batch", answer)

    def _batch(self, tenant, body, path):
        engine = self.engine
        drawn = engine.draw("batch", None)
        rule = drawn.terminal
        outer = Request("batch", tenant, dict(self.headers.items()), {}, self._link_base(tenant), path, self.path)
        if rule is not None and not rule.after:
            answer = engine.fault_answer(rule, outer, None, drawn.delay)
        else:
            answer = self._run_batch(outer, body)
            answer.delay += drawn.delay
            if rule is not None:
                answer = engine.fault_answer(rule, outer, None, answer.delay)
        Engine.modify(answer, drawn)
        return answer

    def _run_batch(self, outer, body):
        engine = self.engine
        problem = engine.directory.path_problem(outer.tenant)
        try:
            if problem:
                raise TokenRejected(problem)
            engine.authority.validate(outer.headers.get("authorization"))
        except TokenRejected as exc:
            engine.stats.count(auth_failures=1)
            return Answer(401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % exc})
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return Answer(400, {}, _batch_error("The batch request body must be {\"requests\": [...]} with at least one "
                                                "request."))
        if len(requests) > MAX_BATCH:
            return Answer(400, {}, _batch_error("The batch request contains %d requests; the maximum is %d."
                                                % (len(requests), MAX_BATCH)))
        ids = [str(item.get("id")) if isinstance(item, dict) else None for item in requests]
        if None in ids or len(set(ids)) != len(ids):
            return Answer(400, {}, _batch_error("Every request in a batch needs a unique id."))
        responses, slowest = [], 0.0
        for item, request_id in zip(requests, ids):
            answer = self._sub_request(outer, item)
            engine.stats.cmdlet(_cmdlet_name(item.get("body")), answer.status if answer.status is not DROP else "dropped",
                                True)
            if answer.status is DROP:
                return Answer(DROP, delay=max(slowest, answer.delay))
            slowest = max(slowest, answer.delay)
            responses.append(_sub_entry(request_id, answer))
        return Answer(200, {}, {"responses": responses}, slowest)

    def _sub_request(self, outer, item):
        """One sub-request: it must carry its own Authorization and X-AnchorMailbox (only Prefer falls back)."""
        url = urlsplit(str(item.get("url", "")))
        parts = [unquote(part) for part in url.path.split("/") if part]
        if str(item.get("method", "POST")).upper() != "POST" or len(parts) != 4 or parts[:2] != ["adminapi", "beta"] \
                or parts[3].lower() != "invokecommand":
            return Answer(400, {"Content-Type": JSON_TYPE},
                          _batch_error("Only POST to /adminapi/beta/{tenant}/InvokeCommand can be batched."))
        headers = {str(key).lower(): value for key, value in (item.get("headers") or {}).items()}
        if "prefer" not in headers and outer.headers.get("prefer"):
            headers["prefer"] = outer.headers["prefer"]
        target = url.path + ("?" + url.query if url.query else "")
        request = Request("sub", parts[2], headers, parse_qs(url.query), self._link_base(parts[2]), url.path, target)
        return self.engine.unit(request, item.get("body"))


def _sub_entry(request_id, answer):
    """A $batch response entry (no body key when the body is empty)."""
    entry = {"id": request_id, "status": answer.status, "headers": dict(answer.headers)}
    body = answer.body
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if body is None or body == "":
        return entry
    json_body = isinstance(body, (dict, list, RawArray))
    entry["headers"].setdefault("Content-Type", JSON_TYPE if json_body else "text/plain; charset=utf-8")
    entry["body"] = body
    return entry


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


def _apps(authority, cert_pem_path, pfx_path):
    apps = {}
    for name in ("secret", "certificate", "no_role", "no_consent", "read_only"):
        app = authority.app(name)
        entry = {"client_id": app.client_id}
        if app.secret:
            entry["client_secret"] = app.secret
        if app.cert is not None:
            entry.update({"cert_pem_path": cert_pem_path, "pfx_path": pfx_path, "pfx_password": authority.pfx_password,
                          "thumbprint": pki.sha1_thumbprint(app.cert), "thumbprint_sha256": pki.sha256_thumbprint(app.cert)})
        apps[name] = entry
    return apps


def build(state_dir, options):
    """Create the state files, the engine, the sink and the bound (not yet serving) server; returns (server, info)."""
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
    engine.graph = GraphEndpoint(engine)
    engine.sink = Sink()
    sink_https, sink_http = engine.sink.start(context)
    engine.targets.update({"sink_https": sink_https, "sink_http": sink_http,
                           "foreign": "https://localhost:%s" % sink_https.rsplit(":", 1)[1]})
    tenant = engine.tenant
    info = {
        "base_url": base_url, "login_url": base_url, "exchange_url": base_url, "control_url": base_url + "/_emulator",
        "resource": EXCHANGE_RESOURCE, "ca_path": ca_path, "pid": os.getpid(), "port": port,
        "tenant_id": engine.tenant_id, "tenant_domain": TENANT_DOMAIN, "custom_domain": CUSTOM_DOMAIN,
        "service_account": tenant.service_account_upn.lower(), "service_account_stored": tenant.service_account_upn,
        "service_account_custom": tenant.custom_service_account_upn.lower(),
        "service_account_custom_stored": tenant.custom_service_account_upn,
        "anchors": engine.anchors(),
        "sink_https_url": sink_https, "sink_http_url": sink_http, "foreign_url": engine.targets["foreign"],
        "unresolvable_url": engine.targets["unresolvable"],
        "mailboxes": len(tenant.mailboxes), "seed": int(engine.options["seed"]),
        "options": {key: engine.options[key] for key in sorted(DEFAULTS)},
        "apps": _apps(authority, cert_pem_path, pfx_path), "managed_identity": engine.managed_identity.describe(),
        "state_dir": state_dir,
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
        server.engine.sink.stop()
    return 0
