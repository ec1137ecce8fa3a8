# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exo_auth against small scripted HTTPS servers: what the emulator cannot be made to do.

Redirects, a token endpoint on another host, answers that are HTML or trickle in byte by
byte, and TLS certificates that are untrusted, for another name or expired.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    AUTH_ARGUMENT_SPEC,
    AuthError,
    VerifiedHttpClient,
    build_token_provider,
    explain_tls_error,
    read_within,
)

TENANT = "contoso.onmicrosoft.com"
TENANT_ID = "0b9a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLIENT_ID = "6a4b1f0e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
SECRET = "Zq8~very-secret-client-secret"
DISCOVERY = "/%s/v2.0/.well-known/openid-configuration" % TENANT
TOKEN_PATH = "/%s/oauth2/v2.0/token" % TENANT
MSI_PATH = "/msi/token"


# -- certificates and servers ----------------------------------------------------------------

def _certificate(common_name, issuer=None, names=(), valid_days=(-1, 30), ca=False):
    """(key, certificate), signed by ``issuer`` = (key, certificate) or self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .issuer_name(issuer[1].subject if issuer else subject).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=valid_days[0]))
               .not_valid_after(now + datetime.timedelta(days=valid_days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


class PKI:
    """A test CA and server certificates: good, for another name, expired."""

    def __init__(self, directory):
        self.directory = directory
        self.ca = _certificate("Test CA", ca=True)
        self.ca_path = str(directory / "ca.pem")
        (directory / "ca.pem").write_bytes(self.ca[1].public_bytes(serialization.Encoding.PEM))
        loopback = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        self.chains = {
            "good": self._chain("good", _certificate("127.0.0.1", self.ca, loopback)),
            "other_name": self._chain("other_name", _certificate("login.example", self.ca, [x509.DNSName("login.example")])),
            "expired": self._chain("expired", _certificate("127.0.0.1", self.ca, loopback, valid_days=(-30, -1))),
        }

    def _chain(self, name, key_and_cert):
        key, cert = key_and_cert
        path = self.directory / ("%s.pem" % name)
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Certificates shared by the tests of this file."""
    return PKI(tmp_path_factory.mktemp("pki"))


class Handler(BaseHTTPRequestHandler):
    """Answers from the server's script; logs every request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet."""

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self._answer("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        """POST."""
        self._answer("POST")

    def _answer(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        path = self.path.split("?")[0]
        self.server.log.append({"method": method, "path": path, "body": body, "headers": dict(self.headers),
                                "port": self.client_address[1]})
        answers = self.server.script.get((method, path)) or [{"status": 404, "json": {"error": "no route"}}]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        answer = answer(self.server) if callable(answer) else answer
        payload = json.dumps(answer["json"]).encode() if "json" in answer else answer.get("body", b"")
        self.send_response(answer.get("status", 200))
        headers = {"Content-Type": "application/json" if "json" in answer else "text/html"}
        headers.update(answer.get("headers", {}))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if answer.get("trickle"):
            for index in range(len(payload)):
                self.wfile.write(payload[index:index + 1])
                self.wfile.flush()
                time.sleep(answer["trickle"])
        else:
            self.wfile.write(payload)


class ScriptedServer(ThreadingHTTPServer):
    """An HTTPS server on 127.0.0.1 answering from ``script``: {(method, path): [answer, ...]}.

    Answers are used in order and the last one repeats; an answer is a dict (status, json
    or body, headers, trickle = seconds between bytes) or a function of the server.
    """

    daemon_threads = True

    def __init__(self, chain):
        super().__init__(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.base_url = "https://127.0.0.1:%d" % self.server_address[1]
        self.script = {}
        self.log = []
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def handle_error(self, request, client_address):
        """Clients that hang up (TLS refused, deadline passed) are expected here."""

    def entra(self, token_endpoint=None, token_answers=None):
        """Script an Entra ID: discovery naming ``token_endpoint`` and the token endpoint's answers."""
        config = {"token_endpoint": token_endpoint or self.base_url + TOKEN_PATH,
                  "authorization_endpoint": self.base_url + "/%s/oauth2/v2.0/authorize" % TENANT,
                  "issuer": self.base_url + "/%s/v2.0" % TENANT}
        self.script[("GET", DISCOVERY)] = [{"json": config}]
        self.script[("POST", TOKEN_PATH)] = token_answers or [token_answer()]
        return self

    def requests_to(self, method, path):
        """The logged requests for one route."""
        return [entry for entry in self.log if entry["method"] == method and entry["path"] == path]


def jwt_with(claims):
    """An unsigned JWT (the module reads only its tid)."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return "%s.%s.c2ln" % (part({"alg": "none"}), part(claims))


def token_answer(tid=TENANT_ID):
    """A successful client-credentials answer."""
    return {"json": {"token_type": "Bearer", "expires_in": 3599, "access_token": jwt_with({"tid": tid})}}


@pytest.fixture
def servers(pki):
    """Start scripted servers: servers() with the good certificate, servers("expired") etc."""
    started = []

    def start(chain="good"):
        server = ScriptedServer(pki.chains[chain])
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def auth_params(**overrides):
    """Module parameters with defaults."""
    params = {name: spec.get("default") for name, spec in AUTH_ARGUMENT_SPEC.items()}
    params.update(overrides)
    return params


def provider(server, pki, sleeps, timeout=5, **overrides):
    """build_token_provider for the scripted Entra ID at ``server`` (client secret by default)."""
    params = auth_params(tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET, ca_path=pki.ca_path, timeout=timeout,
                         login_url=server.base_url, exchange_url="https://outlook.office365.com")
    params.update(overrides)
    http_client = VerifiedHttpClient(requests.Session(), params["ca_path"] or True, params["timeout"])
    return build_token_provider(params, params["login_url"], params["exchange_url"], True, http_client, sleep=sleeps.append)


def assert_no_secret(error, *secrets):
    """Neither the message nor a printed traceback of ``error`` shows a secret or a JWT."""
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    for secret in (SECRET,) + secrets:
        assert secret not in shown
    assert "eyJ" not in shown


# -- redirects and foreign token endpoints -------------------------------------------------------

def test_token_endpoint_redirect_is_refused_and_the_secret_stays_home(servers, pki):
    elsewhere = servers()
    elsewhere.entra()
    entra = servers().entra(token_answers=[{"status": 307, "headers": {"Location": elsewhere.base_url + TOKEN_PATH}}])
    with pytest.raises(AuthError) as caught:
        provider(entra, pki, []).get()
    assert "refusing to send credentials to 127.0.0.1:%d" % elsewhere.server_address[1] in str(caught.value)
    assert not caught.value.transient
    assert elsewhere.log == []  # the secret was never posted to the other host
    assert_no_secret(caught.value)


def test_discovery_redirect_is_refused(servers, pki):
    entra = servers()
    entra.script[("GET", DISCOVERY)] = [{"status": 302, "headers": {"Location": "https://login.attacker.invalid/x"}}]
    with pytest.raises(AuthError, match="refusing to send credentials to login.attacker.invalid"):
        provider(entra, pki, [])


def test_discovered_token_endpoint_must_be_on_the_login_host(servers, pki):
    elsewhere = servers().entra()
    entra = servers().entra(token_endpoint=elsewhere.base_url + TOKEN_PATH)
    with pytest.raises(AuthError, match="refusing to send credentials to 127.0.0.1:%d" % elsewhere.server_address[1]) as caught:
        provider(entra, pki, []).get()
    assert not caught.value.transient
    assert elsewhere.log == [] and entra.requests_to("POST", TOKEN_PATH) == []


def test_discovered_plain_http_token_endpoint_is_refused(servers, pki):
    entra = servers()
    entra.entra(token_endpoint=entra.base_url.replace("https:", "http:") + TOKEN_PATH)
    with pytest.raises(AuthError, match="https"):
        provider(entra, pki, []).get()
    assert entra.requests_to("POST", TOKEN_PATH) == []


# -- answers that are slow, HTML or 5xx ---------------------------------------------------------------

def test_trickling_answer_is_given_up_when_the_timeout_passes(servers, pki):
    server = servers()
    server.script[("POST", "/slow")] = [{"json": {"padding": "x" * 40}, "trickle": 0.1}]  # ~5 s in all
    client = VerifiedHttpClient(requests.Session(), pki.ca_path, timeout=1)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(server.base_url + "/slow", data={"a": "b"})
    assert time.monotonic() - started < 1.5


class SlowBody:
    """A response body that yields one byte per ``pause`` seconds, or fails as ``error``."""

    def __init__(self, pause=0.0, error=None):
        self.pause = pause
        self.error = error

    def read1(self, amount, decode_content=True):
        """One byte, late."""
        del amount, decode_content
        if self.error:
            raise self.error
        time.sleep(self.pause)
        return b"x"

    def close(self):
        """Nothing to close."""


def _response(raw):
    response = requests.Response()
    response.raw, response.url, response.status_code = raw, "https://login.example/token", 200
    return response


def test_read_within_stops_at_the_deadline_between_reads():
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout, match="login.example did not send its whole answer"):
        read_within(_response(SlowBody(pause=0.05)), time.monotonic() + 0.3)
    assert time.monotonic() - started < 0.5


def test_read_within_turns_a_broken_body_into_a_requests_error():
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_within(_response(SlowBody(error=urllib3.exceptions.ProtocolError("connection reset"))), time.monotonic() + 5)


def test_whole_answers_keep_the_connection_for_the_next_request(servers, pki):
    server = servers()
    server.script[("GET", "/ok")] = [{"json": {"ok": True}}]
    client = VerifiedHttpClient(requests.Session(), pki.ca_path, timeout=5)
    assert client.get(server.base_url + "/ok").json() == {"ok": True}
    assert client.get(server.base_url + "/ok").json() == {"ok": True}
    assert len({entry["port"] for entry in server.log}) == 1


def test_html_answer_is_transient_and_retried(servers, pki):
    portal = {"status": 200, "body": b"<html><body>Sign in to the guest Wi-Fi</body></html>"}
    entra = servers().entra(token_answers=[portal, token_answer()])
    sleeps = []
    tokens = provider(entra, pki, sleeps)
    assert tokens.tenant_id() == TENANT_ID
    assert len(sleeps) == 1 and len(entra.requests_to("POST", TOKEN_PATH)) == 2


def test_html_answers_until_the_end_are_a_transient_auth_error(servers, pki):
    portal = {"status": 200, "body": b"<html>proxy error</html>"}
    entra = servers().entra(token_answers=[portal])
    sleeps = []
    with pytest.raises(AuthError) as caught:
        provider(entra, pki, sleeps).get()
    assert caught.value.transient
    assert "text/html instead of JSON" in str(caught.value) and "4 attempts" in str(caught.value)
    assert len(sleeps) == 3
    assert_no_secret(caught.value)


def test_retry_after_of_a_429_is_waited(servers, pki):
    busy = {"status": 429, "headers": {"Retry-After": "7"},
            "json": {"error": "temporarily_unavailable", "error_description": "AADSTS50196: slow down"}}
    entra = servers().entra(token_answers=[busy, token_answer()])
    sleeps = []
    provider(entra, pki, sleeps).get()
    assert sleeps == [7.0]


def test_discovery_5xx_is_retried(servers, pki):
    entra = servers().entra()
    config = entra.script[("GET", DISCOVERY)][0]
    entra.script[("GET", DISCOVERY)] = [{"status": 503, "json": {"error": "busy"}}, config]
    sleeps = []
    assert provider(entra, pki, sleeps).get()
    assert len(sleeps) == 1


def test_managed_identity_5xx_is_retried(servers, pki, monkeypatch):
    endpoint = servers()
    expires_on = str(int(time.time()) + 3600)
    endpoint.script[("GET", MSI_PATH)] = [
        {"status": 500, "json": {"statusCode": 500, "message": "An unexpected error occurred"}},
        {"json": {"access_token": jwt_with({"tid": TENANT_ID}), "expires_on": expires_on, "token_type": "Bearer",
                  "resource": "https://outlook.office365.com"}}]
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.base_url + MSI_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-secret")
    sleeps = []
    tokens = provider(endpoint, pki, sleeps, client_id=None, client_secret=None, managed_identity="system")
    assert tokens.tenant_id() == TENANT_ID
    assert len(sleeps) == 1
    assert endpoint.log[-1]["headers"]["X-IDENTITY-HEADER"] == "identity-header-secret"


# -- TLS --------------------------------------------------------------------------------------------

def test_unknown_ca_says_to_set_ca_path(servers, pki):
    entra = servers().entra()
    sleeps = []
    with pytest.raises(AuthError) as caught:
        provider(entra, pki, sleeps, ca_path=None)
    message = str(caught.value)
    assert "set ca_path to the PEM of the CA that signed 127.0.0.1's certificate" in message
    assert not caught.value.transient and sleeps == []


def _tls_failure(server, ca_path):
    try:
        requests.get(server.base_url + "/", verify=ca_path, timeout=5)
    except requests.exceptions.SSLError as exc:
        return exc
    raise AssertionError("TLS verification should have failed")


def test_certificate_for_another_name_is_explained(servers, pki):
    server = servers("other_name")
    message = explain_tls_error(_tls_failure(server, pki.ca_path), server.base_url + "/token")
    assert "not issued for the name 127.0.0.1" in message


def test_expired_certificate_is_explained(servers, pki):
    server = servers("expired")
    message = explain_tls_error(_tls_failure(server, pki.ca_path), server.base_url + "/token")
    assert "expired or not yet valid" in message and "date and time" in message
