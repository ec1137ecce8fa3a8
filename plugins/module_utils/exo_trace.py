# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``debug_log``: a redacted JSON-lines trace of every call, for a first contact with a tenant.

What a maintainer needs to see why a real tenant answered differently from the emulator:
which cmdlet, which URL path, the status, the response headers that describe the answer,
the body's keys and size, and the time taken. What is never written: tokens, secrets,
passwords, certificates, request bodies, response values (mailbox data), query values.
Headers are written only from an allow-list, so a new header cannot leak by accident.
"""

from __future__ import annotations

import json
import os
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError

# The trace names the tenant and its mailbox counts: for its owner only.
TRACE_MODE = 0o600

# Response headers that describe an answer and carry no credential.
SAFE_HEADERS = (
    "content-type", "content-encoding", "content-length", "retry-after", "request-id", "client-request-id",
    "x-ms-diagnostics", "x-ms-ags-diagnostic", "x-calculatedbetarget", "x-feserver", "x-backendhttpstatus",
    "x-ews-policy-reason", "location", "www-authenticate",
)


def _body_summary(body):
    """Size of a body and, when it is a JSON object, its keys (never its values)."""
    summary = {"body_bytes": len(body or b"")}
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return summary
    if isinstance(data, dict):
        summary["body_keys"] = sorted(data)[:20]
        if isinstance(data.get("value"), list):
            summary["values"] = len(data["value"])
        for key in ("@adminapi.warnings", "@adminapi.errors"):
            if data.get(key):
                summary[key.split(".")[1]] = len(data[key]) if isinstance(data[key], list) else 1
    return summary


def safe_url(url):
    """Path and query parameter names of a URL; query values (skip tokens) are left out."""
    parts = urlsplit(str(url))
    return {"host": parts.hostname, "path": parts.path,
            "query_keys": sorted({key for key, _value in parse_qsl(parts.query, keep_blank_values=True)})}


class CallTrace:
    """Appends one JSON object per event to ``path``; does nothing without a path."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._started = time.monotonic()
        if path:
            # Fail before any request when the trace cannot be written safely.
            try:
                os.close(self._open())
            except OSError as exc:
                raise ConfigurationError("debug_log %s cannot be written (%s). Fix: point debug_log at a new file in "
                                         "a directory you own; a symlink is refused" % (path, exc.strerror or exc)) from None

    def _open(self):
        """The trace for appending, owner-only, never through a symlink (a planted link could point anywhere)."""
        handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), TRACE_MODE)
        try:
            # The mode of os.open applies to a new file only; an existing trace is made owner-only too.
            if os.fstat(handle).st_mode & 0o777 != TRACE_MODE:
                os.fchmod(handle, TRACE_MODE)
        except OSError:
            os.close(handle)
            raise
        return handle

    def _write(self, record):
        if not self.path:
            return
        record = dict(record, t=round(time.monotonic() - self._started, 4))
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with self._lock:
            handle = self._open()
            try:
                os.write(handle, line.encode("utf-8"))
            finally:
                os.close(handle)

    def event(self, name, **fields):
        """A named event with plain fields (the caller passes nothing secret)."""
        self._write(dict(fields, event=name))

    def http(self, url, cmdlet, answer=None, error=None, seconds=0.0):
        """One HTTP exchange with Exchange Online."""
        record = {"event": "http", "cmdlet": cmdlet, "seconds": round(seconds, 4)}
        record.update(safe_url(url))
        if answer is not None:
            record["status"] = answer.status
            record["headers"] = {name: value for name, value in ((str(k).lower(), v) for k, v in answer.headers.items())
                                 if name in SAFE_HEADERS}
            if "location" in record["headers"]:
                record["headers"]["location"] = safe_url(record["headers"]["location"])
            record.update(_body_summary(answer.body))
        if error is not None:
            record["error"] = error
        self._write(record)

    def batch(self, cmdlets, answers):
        """The outcome of each sub-request of a $batch (status kind, counts; no values)."""
        if not self.path:
            return
        subs = []
        for call_id, cmdlet in cmdlets.items():
            outcome = answers.get(call_id)
            entry = {"id": call_id, "cmdlet": cmdlet}
            if outcome is None:
                entry["outcome"] = "missing"
            elif hasattr(outcome, "kind"):
                entry.update(outcome="error", kind=outcome.kind, status=outcome.status)
            else:
                entry.update(outcome="ok", values=None if outcome.value is None else len(outcome.value),
                             warnings=len(outcome.warnings))
            subs.append(entry)
        self._write({"event": "batch", "sub_requests": subs})
