"""The sink: two extra loopback listeners (HTTPS with the emulator's CA, and plain HTTP) that
stand for a host a client must never talk to. Fault rules point next links and redirects at
them; every request they get is recorded (never a header value, a body or a query value:
only names, and whether a credential was there) and answered ``{"value": []}``."""
from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CREDENTIAL_FIELDS = ("client_secret", "client_assertion")


class Sink:
    """The records of both listeners."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.servers = []

    def record(self, entry):
        """Remember one request."""
        with self.lock:
            self.records.append(entry)

    def snapshot(self):
        """All records so far."""
        with self.lock:
            return list(self.records)

    def clear(self):
        """Forget every record."""
        with self.lock:
            self.records = []

    def start(self, ssl_context):
        """Bind both listeners on free loopback ports and serve them in daemon threads; returns (https_url, http_url)."""
        urls = []
        for scheme in ("https", "http"):
            server = _SinkServer(("127.0.0.1", 0), self, scheme, ssl_context if scheme == "https" else None)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
            self.servers.append(server)
            urls.append("%s://127.0.0.1:%d" % (scheme, server.server_address[1]))
        return urls[0], urls[1]

    def stop(self):
        """Stop both listeners."""
        for server in self.servers:
            server.shutdown()
            server.server_close()


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sink, scheme, ssl_context):
        super().__init__(address, _SinkHandler)
        self.sink = sink
        self.scheme = scheme
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address):
        """A client that gives up (TLS refused, reset) is normal here; anything else goes to stderr."""
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    timeout = 30

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """No access log."""

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        fields = set(query)
        fields.update(_body_fields(body, self.headers.get("Content-Type", "")))
        self.server.sink.record({
            "time": time.time(), "listener": self.server.scheme, "method": self.command, "path": split.path,
            "query_names": sorted(query), "header_names": sorted({name.lower() for name in self.headers.keys()}),
            "authorization": "authorization" in {name.lower() for name in self.headers.keys()},
            "client_secret": "client_secret" in fields, "client_assertion": "client_assertion" in fields,
            "body_bytes": len(body),
        })
        payload = b'{"value":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815


def _body_fields(body, content_type):
    """Field names of a form or JSON body (values are never kept)."""
    if not body:
        return set()
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return set(data)
    names = set(parse_qs(text, keep_blank_values=True))
    names.update(field for field in CREDENTIAL_FIELDS if field in text)
    return names
