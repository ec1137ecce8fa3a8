# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPS client for the Exchange Online admin API (``InvokeCommand`` and ``$batch``).

Every wire detail lives here: URLs, headers, paging by POST to ``@odata.nextLink``,
the batch envelope, and decoding of the API's error shapes. Retries of whole HTTP
requests (429, 5xx, dropped connections, an expired token) happen here too, following
the policy in exo_throttle. Sub-requests inside a ``$batch`` are reported back to the
caller, which decides what to retry.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    VerifiedHttpClient,
    build_token_provider,
    resolve_endpoints,
    tls_verify,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_throttle import (
    MAX_THROTTLED_ATTEMPTS,
    MAX_TRANSIENT_ATTEMPTS,
    backoff_delay,
    parse_retry_after,
)

try:
    import requests
except ImportError:
    requests = None

# The app-only anchor that is not tied to one mailbox.
APP_ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"
# Largest page the API serves and largest $batch it accepts.
MAX_PAGE_SIZE = 1000
MAX_BATCH_SIZE = 10
TRANSIENT_STATUSES = (500, 502, 503, 504)
# Server-side exceptions that Microsoft's own module retries.
TRANSIENT_EXCEPTIONS = (
    "TransientException",
    "DCOverloadedException",
    "ADServerSettingsChangedException",
    "ServerBusyException",
    "TimeoutException",
)
WRITE_VERBS = ("Add-", "Remove-", "Set-", "New-", "Enable-", "Disable-", "Update-")
CLIENT_NAME = "mimecast_mse.sync_engine"


def request_class(cmdlet):
    """'write' for cmdlets that change the tenant, 'read' otherwise (budgeted apart)."""
    return "write" if cmdlet.startswith(WRITE_VERBS) else "read"


class ExoError(Exception):
    """An error answer from Exchange Online, decoded.

    ``kind`` is one of: not_found, bad_request, forbidden, unauthorized, throttled,
    transient, next_link_expired, other.
    """

    def __init__(self, message, status=None, kind="other", exception_class=None, diagnostics=None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.exception_class = exception_class
        self.diagnostics = diagnostics
        self.retry_after = retry_after


class CmdletResult:
    """A successful cmdlet answer: its objects and the warnings Exchange attached."""

    __slots__ = ("value", "warnings")

    def __init__(self, value, warnings):
        self.value = value
        self.warnings = warnings


def _lower_headers(headers):
    return {str(key).lower(): value for key, value in (headers or {}).items()}


def _load_json(body):
    if isinstance(body, (dict, list)):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = (body or "").strip("\x00 \r\n\t")
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body


def explain_error(error):
    """One message for an ExoError that stopped the run: what happened and what to fix."""
    if error.kind == "forbidden":
        return ("Exchange Online refused the request (403): the app has no Exchange role that allows these cmdlets%s. "
                "Fix: assign the Entra role 'Exchange Recipient Administrator' (or 'Exchange Administrator') to the app's "
                "service principal, then wait a few minutes for it to apply."
                % (" (%s)" % error.diagnostics if error.diagnostics else ""))
    if error.kind == "throttled":
        return "Exchange Online kept throttling the requests: %s. Fix: run again later, or lower max_concurrency." % error.message
    if error.kind == "transient":
        return "Exchange Online did not answer reliably: %s. Fix: run again; nothing is left half-done." % error.message
    return "Exchange Online answered %s: %s" % (error.status or "an error", error.message)


def decode_error(status, headers, body):
    """Build an ExoError from an HTTP status, headers and body (bytes, text or JSON)."""
    headers = _lower_headers(headers)
    data = _load_json(body)
    diagnostics = headers.get("x-ms-diagnostics")
    exception_class = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        text = error.get("message") or error.get("code") or ""
        for detail in error.get("details") or []:
            # details[].message is "code|ExceptionClass|human text": the useful part.
            parts = str(detail.get("message", "")).split("|", 2)
            if len(parts) == 3:
                exception_class, text = parts[1], parts[2]
                break
            if detail.get("message"):
                text = detail["message"]
                break
    elif isinstance(data, dict):
        text = str(data.get("message") or data)
    else:
        text = str(data or "").strip()
    if not text:
        text = diagnostics or "no details in the response"
    exception_class = exception_class or ""
    retry_after = None
    if status == 429:
        kind, retry_after = "throttled", parse_retry_after(headers.get("retry-after"))
    elif status == 401:
        kind = "unauthorized"
    elif status == 403:
        kind = "forbidden"
    elif exception_class.endswith("ManagementObjectNotFoundException") or status == 404:
        kind = "not_found"
    elif status in TRANSIENT_STATUSES or any(name in exception_class for name in TRANSIENT_EXCEPTIONS):
        kind = "transient"
    elif status == 400:
        kind = "bad_request"
    else:
        kind = "other"
    return ExoError(text, status=status, kind=kind, exception_class=exception_class or None,
                    diagnostics=diagnostics, retry_after=retry_after)


def result_from_body(body):
    """CmdletResult from a 200 answer's JSON body."""
    data = _load_json(body)
    if not isinstance(data, dict):
        return CmdletResult([], [])
    value = data.get("value")
    if value is None:
        value = []
    elif not isinstance(value, list):
        value = [value]
    return CmdletResult(value, list(data.get("@adminapi.warnings") or []))


class RequestStats:
    """Request counts for the module result (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.http_requests = 0
        self.batches = 0
        self.throttled = 0
        self.retries = 0
        self.by_cmdlet = Counter()

    def add(self, **counts):
        """Add to the named counters."""
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def count_cmdlet(self, cmdlet, count=1):
        """Count sub-requests or direct calls of a cmdlet."""
        with self._lock:
            self.by_cmdlet[cmdlet] += count

    def as_dict(self, token_renewals=0):
        """The ``requests`` part of the module result."""
        with self._lock:
            return {
                "http_requests": self.http_requests,
                "batches": self.batches,
                "throttled": self.throttled,
                "retries": self.retries,
                "token_renewals": token_renewals,
                "by_cmdlet": dict(sorted(self.by_cmdlet.items())),
            }


class ExoClient:
    """Calls Exchange Online cmdlets over the admin REST API."""

    def __init__(self, session, exchange_url, tenant, tokens, anchor_domain, verify=True, timeout=60, sleep=time.sleep):
        self.session = session
        self.tokens = tokens
        self.verify = verify
        self.timeout = timeout
        self.stats = RequestStats()
        self.anchor = APP_ANCHOR % anchor_domain
        self.base_url = "%s/adminapi/beta/%s" % (exchange_url.rstrip("/"), tenant)
        self.invoke_url = self.base_url + "/InvokeCommand"
        self.batch_url = self.base_url + "/$batch"
        self._sleep = sleep

    # -- one HTTP request, with every whole-request retry -------------------------

    def _headers(self, token, cmdlet, extra):
        headers = {
            "Authorization": "Bearer " + token,
            "X-AnchorMailbox": self.anchor,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-CmdletName": cmdlet,
            "X-ClientApplication": CLIENT_NAME,
            "client-request-id": str(uuid.uuid4()),
        }
        headers.update(extra or {})
        return headers

    def _post(self, url, payload, cmdlet, extra_headers=None):
        """POST once successfully or fail: returns (response, 429s absorbed, token used).

        Retries: 429 after Retry-After; 5xx, transient server exceptions and dropped
        connections with jittered exponential backoff; 401 once per token, after
        asking the token provider for a new one (tokens expire during long runs).
        """
        data = json.dumps(payload)
        transient = throttled = unauthorized = 0
        while True:
            token = self.tokens.get()
            try:
                response = self.session.post(url, data=data, headers=self._headers(token, cmdlet, extra_headers),
                                             verify=self.verify, timeout=self.timeout)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                transient += 1
                if transient >= MAX_TRANSIENT_ATTEMPTS:
                    raise ExoError("no answer from Exchange Online after %d attempts (%s)" % (transient, exc.__class__.__name__),
                                   kind="transient")
                self.stats.add(retries=1)
                self._sleep(backoff_delay(transient))
                continue
            self.stats.add(http_requests=1)
            status = response.status_code
            if status == 200:
                return response, throttled, token
            error = decode_error(status, response.headers, response.content)
            if status == 401:
                unauthorized += 1
                if unauthorized > 2:
                    raise ExoError(
                        "Exchange Online refused the app's token (401: %s). Fix: give the app registration the application "
                        "permission Exchange.ManageAsApp of 'Office 365 Exchange Online' and grant admin consent."
                        % (response.headers.get("WWW-Authenticate") or error.message),
                        status=401, kind="unauthorized")
                self.stats.add(retries=1)
                self.tokens.invalidate(token)
                continue
            if status == 429:
                throttled += 1
                self.stats.add(throttled=1, retries=1)
                if throttled >= MAX_THROTTLED_ATTEMPTS:
                    raise ExoError("still throttled after %d attempts: %s" % (throttled, error.message),
                                   status=429, kind="throttled")
                self._sleep(error.retry_after)
                continue
            if error.kind == "transient":
                transient += 1
                if transient >= MAX_TRANSIENT_ATTEMPTS:
                    error.message = "%s (after %d attempts)" % (error.message, transient)
                    raise error
                self.stats.add(retries=1)
                self._sleep(backoff_delay(transient))
                continue
            raise error

    # -- cmdlets --------------------------------------------------------------------

    @staticmethod
    def cmdlet_input(cmdlet, parameters):
        """The request body for one cmdlet call."""
        return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}

    def invoke(self, cmdlet, parameters):
        """Run one cmdlet and return its CmdletResult (raises ExoError)."""
        self.stats.count_cmdlet(cmdlet)
        response, _throttled, _token = self._post(self.invoke_url, self.cmdlet_input(cmdlet, parameters), cmdlet)
        return result_from_body(response.content)

    def iter_pages(self, cmdlet, parameters, page_size=MAX_PAGE_SIZE):
        """Yield CmdletResult pages of a listing cmdlet, following @odata.nextLink.

        The API pages by POSTing the same body to the next link. Links expire after a
        few minutes: a refused link raises ExoError(kind='next_link_expired') so the
        caller can start the listing again.
        """
        body = self.cmdlet_input(cmdlet, parameters)
        prefer = {"Prefer": "odata.maxpagesize=%d" % min(max(page_size, 1), MAX_PAGE_SIZE)}
        url = self.invoke_url
        while url:
            self.stats.count_cmdlet(cmdlet)
            try:
                response, _throttled, _token = self._post(url, body, cmdlet, prefer)
            except ExoError as exc:
                if url != self.invoke_url and exc.kind in ("bad_request", "not_found", "other"):
                    raise ExoError("the listing's next-page link was refused (%s)" % exc.message,
                                   status=exc.status, kind="next_link_expired")
                raise
            data = _load_json(response.content)
            data = data if isinstance(data, dict) else {}
            yield result_from_body(data)
            url = data.get("@odata.nextLink")

    def batch(self, calls):
        """Send up to 10 cmdlet calls in one $batch.

        ``calls`` is a list of (id, cmdlet, parameters). Returns (answers, throttled):
        ``answers`` maps each id to a CmdletResult or an ExoError; ``throttled`` is the
        number of 429s the whole batch absorbed before it went through. Sub-requests
        answered 429 come back as ExoError(kind='throttled') with their Retry-After.
        """
        if not 0 < len(calls) <= MAX_BATCH_SIZE:
            raise ValueError("a $batch carries 1 to %d requests, not %d" % (MAX_BATCH_SIZE, len(calls)))
        payload = {"requests": [
            {
                "id": str(call_id),
                "method": "POST",
                "url": self.invoke_url,
                "headers": {"Content-Type": "application/json", "X-AnchorMailbox": self.anchor, "X-CmdletName": cmdlet},
                "body": self.cmdlet_input(cmdlet, parameters),
            }
            for call_id, cmdlet, parameters in calls
        ]}
        for _call_id, cmdlet, _parameters in calls:
            self.stats.count_cmdlet(cmdlet)
        self.stats.add(batches=1)
        response, throttled, token = self._post(self.batch_url, payload, "$batch", {"Prefer": "odata.continue-on-error"})
        data = _load_json(response.content)
        answers = {}
        for item in (data or {}).get("responses", []) if isinstance(data, dict) else []:
            status = int(item.get("status", 0))
            if status == 200:
                answers[str(item.get("id"))] = result_from_body(item.get("body"))
            else:
                answers[str(item.get("id"))] = decode_error(status, item.get("headers"), item.get("body"))
        if any(isinstance(answer, ExoError) and answer.kind == "unauthorized" for answer in answers.values()):
            # The token expired while the batch ran: renew it before the retries go out.
            self.tokens.invalidate(token)
        for call_id, _cmdlet, _parameters in calls:
            answers.setdefault(str(call_id), ExoError("the $batch answer had no response for this request", kind="transient"))
        return answers, throttled


def connect(params, pool_size=16):
    """An ExoClient for the module parameters (auth options of AUTH_ARGUMENT_SPEC)."""
    login_url, exchange_url, custom_login = resolve_endpoints(params["cloud"], params.get("login_url"), params.get("exchange_url"))
    verify = tls_verify(params)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size + 2, max_retries=0)
    session.mount("https://", adapter)
    http_client = VerifiedHttpClient(session, verify, params["timeout"])
    tokens = build_token_provider(params, login_url, exchange_url, custom_login, http_client)
    tenant = params["tenant"]
    # The app-only anchor wants a domain of the tenant; a tenant GUID has none, the trustee's UPN does.
    anchor_domain = tenant if "." in tenant else str(params.get("user") or "").rpartition("@")[2] or tenant
    return ExoClient(session, exchange_url, tenant, tokens, anchor_domain, verify=verify, timeout=params["timeout"])
