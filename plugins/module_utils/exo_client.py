# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTPS client for the Exchange Online admin API (``InvokeCommand`` and ``$batch``).

Every wire detail lives here: URLs, headers, paging by POST to ``@odata.nextLink``, the
batch envelope, and the decoding of answers. The rules it follows come from the public
evidence in the project's research notes (exchange-online-rest.md, "Evidence update"):

- An answer is believed only when it has the expected shape: a JSON object whose
  ``value`` is a list, no ``@adminapi.errors``; a batch answer with a response per
  request. Anything else is a transient error of that call, never an empty success.
- The bearer token goes only to ``exchange_url``'s scheme, host and port: redirects are
  never followed and a next-page link elsewhere is refused.
- Each ``$batch`` sub-request carries the full header set, token included.
- The URL path and the app-only anchor name the tenant by the GUID in the token's
  ``tid`` claim, whatever form the user gave ``tenant`` in.
- Error bodies are read as raw bytes (a 403 can be NUL bytes labelled gzip); the status
  decides the kind of error.

Direct calls (``invoke``, listing pages) are retried here within one budget per call. A
``$batch`` is sent once: the runner (exo_runner) retries each of its calls within that
call's own budget, so retries never multiply.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import threading
import time
import uuid
import zlib
from collections import Counter
from urllib.parse import quote, urljoin, urlsplit

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_auth import (
    VerifiedHttpClient,
    build_token_provider,
    explain_tls_error,
    read_within,
    resolve_endpoints,
    tls_verify,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_throttle import (
    MAX_THROTTLED_ATTEMPTS,
    MAX_TRANSIENT_ATTEMPTS,
    backoff_delay,
    parse_retry_after,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_trace import CallTrace

try:
    import requests
except ImportError:
    requests = None

# The app-only anchor that is not tied to one mailbox, on the tenant's GUID (CIPP's fix
# for "anchor issues bulk requests").
APP_ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"
# Largest page the API serves and largest $batch it accepts.
MAX_PAGE_SIZE = 1000
MAX_BATCH_SIZE = 10
# A listing longer than this many pages is a server that never ends it.
MAX_PAGES = 100000
# Pages in a row that bring no new object before a listing is called a loop.
MAX_STALE_PAGES = 3
TRANSIENT_STATUSES = (500, 502, 503, 504)
# Server-side exceptions that Microsoft's own module retries (Get-WaitTimeForRetry).
TRANSIENT_EXCEPTIONS = (
    "TransientException",
    "DCOverloadedException",
    "SuitabilityDirectoryException",
    "ServerInMMException",
    "ADServerSettingsChangedException",
    "StorageTransientException",
    "ServerBusyException",
    "TimeoutException",
)
CONCURRENCY_TEXT = "maximum number of concurrent requests per tenant"
# A 401 with this text is Exchange RBAC refusing the cmdlet, not an expired token.
NOT_ALLOWED_TEXT = "not allowed to call"
# A mailbox-routed cmdlet that the server handling the $batch cannot proxy (CIPP issue
# #4877); Microsoft's module never batches these cmdlets. Sent again as a direct call.
ROUTING_EXCEPTIONS = ("CmdletProxyNotAvailableException",)
ROUTING_TEXTS = ("cmdlet needs proxy",)
WRITE_VERBS = ("Add-", "Remove-", "Set-", "New-", "Enable-", "Disable-", "Update-")
CLIENT_NAME = "mimecast_mse.sync_engine"
# Warnings are matched in English only as a hint; see exo_grants for why that is safe.
ACCEPT_LANGUAGE = "en-US"
# Kinds after which nothing more can succeed in this run.
FATAL_KINDS = ("forbidden", "rbac", "redirect", "refused_link", "auth", "tls")
# What the app that runs o365_mailbox_fullaccess needs; modules that need more pass their own.
DEFAULT_ROLE_HINT = "the Entra role 'Exchange Recipient Administrator' (or 'Exchange Administrator')"


def request_class(cmdlet):
    """'write' for cmdlets that change the tenant, 'read' otherwise (budgeted apart)."""
    return "write" if cmdlet.startswith(WRITE_VERBS) else "read"


class ExoError(Exception):
    """An error answer from Exchange Online, decoded.

    ``kind`` is one of: not_found, bad_request, forbidden (403: no role), rbac (401 "not
    allowed to call"), unauthorized (token refused), throttled, transient (5xx, transient
    server exception, dropped connection, an answer of the wrong shape), routing,
    next_link_expired, cmdlet_error (``@adminapi.errors``), redirect, refused_link,
    listing_loop, auth (no token could be had), unavailable (circuit open), other.
    """

    def __init__(self, message, status=None, kind="other", exception_class=None, diagnostics=None, retry_after=None,
                 cmdlet=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.exception_class = exception_class
        self.diagnostics = diagnostics
        self.retry_after = retry_after
        self.cmdlet = cmdlet
        # Sends of the same call before this answer that ended in a transient error or a dropped
        # connection: each may have reached the service.
        self.earlier_sends = 0

    @property
    def fatal(self):
        """True when no other call of this run can succeed either."""
        return self.kind in FATAL_KINDS


class CmdletResult:
    """A successful cmdlet answer: its objects and the warnings Exchange attached.

    ``value`` is None when the answer carried no ``value`` at all: for a write cmdlet that
    is an ambiguous answer its caller must verify. ``sends`` counts the sends of a direct
    call that may have reached the service (the answered one, plus each that ended in a
    transient error or a dropped connection): more than one makes a write's answer
    ambiguous too, since an earlier send may have applied it.
    """

    __slots__ = ("value", "warnings", "next_link", "sends")

    def __init__(self, value, warnings, next_link=None, sends=1):
        self.value = value
        self.warnings = warnings
        self.next_link = next_link
        self.sends = sends


def _lower_headers(headers):
    return {str(key).lower(): value for key, value in (headers or {}).items()}


def _text_of(body, raw=False):
    """Readable text of a body, NUL bytes dropped, never raises.

    ``raw``: an error body read without content decoding, so gzip/deflate are tried
    (a 200 answer arrives decoded and is never decompressed again).
    """
    if isinstance(body, (dict, list)):
        return json.dumps(body)
    if isinstance(body, str):
        return body.strip("\x00 \r\n\t")
    data = bytes(body or b"")
    for decompress in (gzip.decompress, zlib.decompress) if raw else ():
        try:
            data = decompress(data)
            break
        except (OSError, EOFError, zlib.error, ValueError):
            continue
    return data.decode("utf-8", "replace").strip("\x00 \r\n\t")


def _load_json(body, raw=False):
    """Parsed JSON of a body, or None when it is not JSON."""
    if isinstance(body, (dict, list)):
        return body
    text = _text_of(body, raw)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _error_text(item):
    """Readable text of one ``@adminapi.errors`` entry (a string or an object)."""
    if isinstance(item, dict):
        for key in ("Message", "message", "ErrorDetails", "Exception", "FullyQualifiedErrorId"):
            if item.get(key):
                return _error_text(item[key])
        return json.dumps(item, sort_keys=True)[:500]
    return str(item)


def explain_error(error, role_hint=DEFAULT_ROLE_HINT):
    """One message for an ExoError that stopped the run: what happened and what to fix."""
    cmdlet = error.cmdlet or "these cmdlets"
    if error.kind == "forbidden":
        return ("Exchange Online refused %s (403): the app has no Exchange role that allows it%s. Fix: give the app's "
                "service principal %s, then wait a few minutes for it to apply."
                % (cmdlet, " (%s)" % error.diagnostics if error.diagnostics else "", role_hint))
    if error.kind == "rbac":
        return ("Exchange Online says the app is not allowed to call %s (401: %s): its role lets it sign in but not run "
                "this cmdlet, and a new token will not change that. Fix: give the app's service principal %s."
                % (cmdlet, error.message, role_hint))
    if error.kind == "throttled":
        return "Exchange Online kept throttling the requests: %s. Fix: run again later, or lower max_concurrency." % error.message
    if error.kind in ("transient", "unavailable"):
        return "Exchange Online did not answer reliably: %s. Fix: run again later; a re-run picks up where this one stopped." % error.message
    if error.kind in ("redirect", "refused_link", "listing_loop", "auth", "tls"):
        return error.message
    return "Exchange Online answered %s to %s: %s" % (error.status or "an error", cmdlet, error.message)


def _kind_for(status, text, exception_class):
    """The kind of an error answer: the status decides, the text refines."""
    lowered = text.lower()
    if CONCURRENCY_TEXT in lowered or status == 429:
        return "throttled"
    if status == 401:
        return "rbac" if NOT_ALLOWED_TEXT in lowered else "unauthorized"
    if status == 403:
        return "forbidden"
    if exception_class.endswith("ManagementObjectNotFoundException") or status == 404:
        return "not_found"
    if status in TRANSIENT_STATUSES or any(name in exception_class for name in TRANSIENT_EXCEPTIONS):
        return "transient"
    if any(name in exception_class for name in ROUTING_EXCEPTIONS) or any(text in lowered for text in ROUTING_TEXTS):
        return "routing"
    if status == 400:
        return "bad_request"
    return "other"


def decode_error(status, headers, body, cmdlet=None):
    """Build an ExoError from an HTTP status, headers and raw body (bytes, text or JSON)."""
    headers = _lower_headers(headers)
    diagnostics = headers.get("x-ms-diagnostics")
    data = _load_json(body, raw=True)
    exception_class = ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        text = str(error.get("message") or error.get("code") or "")
        for detail in error.get("details") or []:
            detail_text = str(detail.get("message", "")) if isinstance(detail, dict) else str(detail)
            # details[].message is "code|ExceptionClass|human text": the useful part.
            parts = detail_text.split("|", 2)
            if len(parts) == 3:
                exception_class, text = parts[1], parts[2]
                break
            if detail_text:
                text = detail_text
                break
    elif isinstance(data, dict):
        text = _error_text(data)
    else:
        text = _text_of(body, raw=True)[:500]
    if not text:
        text = diagnostics or headers.get("www-authenticate") or "no details in the response"
    # "not allowed to call" may sit in the body, in x-ms-diagnostics or in WWW-Authenticate.
    kind_text = " ".join(str(part) for part in (text, diagnostics or "", headers.get("www-authenticate") or ""))
    kind = _kind_for(status, kind_text, exception_class)
    if kind == "rbac" and NOT_ALLOWED_TEXT not in text.lower():
        text = diagnostics if NOT_ALLOWED_TEXT in str(diagnostics).lower() else headers.get("www-authenticate") or text
    retry_after = None
    if kind == "throttled":
        retry_after = parse_retry_after(headers.get("retry-after"))
    return ExoError(text, status=status, kind=kind, exception_class=exception_class or None,
                    diagnostics=diagnostics, retry_after=retry_after, cmdlet=cmdlet)


def invalid_answer(what, cmdlet=None, status=200):
    """An answer that is not what the API promises: transient, never a success."""
    return ExoError("the answer to %s was not a valid Exchange Online answer (%s)" % (cmdlet or "the request", what),
                    status=status, kind="transient", cmdlet=cmdlet)


def errors_in(data, cmdlet):
    """ExoError for a non-empty ``@adminapi.errors``, else None: the cmdlet failed inside HTTP 200."""
    errors = data.get("@adminapi.errors")
    if not errors:
        return None
    items = errors if isinstance(errors, list) else [errors]
    text = "; ".join(_error_text(item) for item in items)[:1000]
    exception_class = next((part for part in text.split("|") if part.endswith("Exception")), "")
    kind = "transient" if any(name in text for name in TRANSIENT_EXCEPTIONS) else "cmdlet_error"
    if exception_class.endswith("ManagementObjectNotFoundException"):
        kind = "not_found"
    return ExoError(text, status=200, kind=kind, exception_class=exception_class or None, cmdlet=cmdlet)


def parse_answer(body, cmdlet=None):
    """CmdletResult from a 200 answer's body, or raise ExoError when it is not one."""
    data = _load_json(body)
    if not isinstance(data, dict):
        raise invalid_answer("not a JSON object" if _text_of(body) else "an empty body", cmdlet)
    if isinstance(data.get("error"), dict):
        error = decode_error(200, {}, data, cmdlet)
        error.kind = "transient" if error.kind in ("other", "bad_request") else error.kind
        raise error
    error = errors_in(data, cmdlet)
    if error is not None:
        raise error
    value = data.get("value")
    if value is not None and not isinstance(value, list):
        raise invalid_answer("'value' is not a list", cmdlet)
    warnings = data.get("@adminapi.warnings") or []
    if not isinstance(warnings, list):
        warnings = [warnings]
    return CmdletResult(value, [str(warning) for warning in warnings], data.get("@odata.nextLink"))


def parse_page(body, cmdlet=None):
    """A listing page: a valid answer whose ``value`` is a list."""
    result = parse_answer(body, cmdlet)
    if result.value is None:
        raise invalid_answer("a page without 'value'", cmdlet)
    return result


def parse_for(cmdlet):
    """How to read a 200 answer of this cmdlet: a Get- must return a list, a write may return nothing."""
    return parse_answer if request_class(cmdlet) == "write" else parse_page


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


class Answer:
    """One HTTP answer, read completely (or as far as the deadline allowed)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


def _origin(url):
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


class ExoClient:
    """Calls Exchange Online cmdlets over the admin REST API."""

    def __init__(self, session, exchange_url, tokens, tenant_id, verify=True, timeout=60, sleep=time.sleep, trace=None):
        self.session = session
        self.tokens = tokens
        self.verify = verify
        self.timeout = timeout
        self.stats = RequestStats()
        self.tenant_id = tenant_id
        self.anchor = APP_ANCHOR % tenant_id
        self.base_url = "%s/adminapi/beta/%s" % (exchange_url.rstrip("/"), quote(tenant_id, safe=""))
        self.invoke_url = self.base_url + "/InvokeCommand"
        self.batch_url = self.base_url + "/$batch"
        self.trace = trace or CallTrace(None)
        self._origin = _origin(exchange_url)
        self._sleep = sleep
        self._last_token = None
        # The service's clock (epoch seconds) from the Date header of the latest answer, or None.
        self.server_time = None
        # Called with each new token (ExoModule masks it in every result and message).
        self.on_token = None

    # -- one HTTP exchange ------------------------------------------------------------

    def token(self):
        """The current token from the provider (AuthError when none can be had)."""
        token = self.tokens.get()
        if token != self._last_token:
            self._last_token = token
            if self.on_token is not None:
                self.on_token(token)
        return token

    def headers(self, token, cmdlet, extra=None):
        """The header set every call carries, sub-requests of a $batch included."""
        headers = {
            "Authorization": "Bearer " + token,
            "X-AnchorMailbox": self.anchor,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Language": ACCEPT_LANGUAGE,
            "X-CmdletName": cmdlet,
            "X-ClientApplication": CLIENT_NAME,
            "X-ResponseFormat": "json",
            "client-request-id": str(uuid.uuid4()),
        }
        headers.update(extra or {})
        return headers

    def _exchange(self, url, data, headers):
        """POST once; returns an Answer. Raises requests' errors, or ExoError for a redirect."""
        deadline = time.monotonic() + self.timeout
        response = self.session.post(url, data=data, headers=headers, verify=self.verify, timeout=self.timeout,
                                     allow_redirects=False, stream=True)
        try:
            if 300 <= response.status_code < 400:
                target = urlsplit(response.headers.get("Location") or "").hostname or "an unnamed location"
                raise ExoError("Exchange Online answered %s with a redirect to %s. The module never follows redirects, so "
                               "the token is not sent there. Fix: check exchange_url and any proxy between the control "
                               "node and Exchange Online." % (response.status_code, target),
                               status=response.status_code, kind="redirect")
            if response.status_code == 200:
                # Decoded as the server labels it, within one deadline for the whole answer.
                read_within(response, deadline)
                return Answer(200, response.headers, response.content)
            # Error bodies are read raw: a 403 can be NUL bytes labelled gzip.
            body = bytearray()
            for chunk in response.raw.stream(65536, decode_content=False):
                body.extend(chunk)
                if time.monotonic() > deadline:
                    break  # the status already says what happened
            return Answer(response.status_code, response.headers, bytes(body))
        finally:
            response.close()

    def _post(self, url, payload, cmdlet, extra_headers=None, retry=True, parse=None):
        """POST until a valid answer arrives, within this call's budget; returns (parsed, Answer, 429s absorbed, sends).

        ``sends`` counts the sends that may have reached the service: the answered one and
        every one that ended in a transient error or a dropped connection (a 429 or a 401
        was refused before the cmdlet ran).

        ``parse`` turns a 200 body into a result or raises ExoError (a body of the wrong
        shape is a transient error, like a 503). With ``retry`` (direct calls): 429 after
        Retry-After, transient errors and dropped connections with jittered backoff, and
        401 once per token after asking for a new one. Without (a $batch): one attempt,
        every error raised for the runner to retry call by call.
        """
        parse = parse or parse_answer
        transient = throttled = unauthorized = 0
        while True:
            token, error = self.token(), None
            # A $batch payload is built per send: its sub-requests carry this same token.
            data = json.dumps(payload(token) if callable(payload) else payload)
            started = time.monotonic()
            try:
                answer = self._exchange(url, data, self.headers(token, cmdlet, extra_headers))
            except ExoError as exc:
                exc.cmdlet = cmdlet
                exc.earlier_sends = transient
                self.trace.http(url, cmdlet, error=exc.kind, seconds=time.monotonic() - started)
                raise
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                error = self._connection_error(exc, cmdlet)
                self.trace.http(url, cmdlet, error=exc.__class__.__name__, seconds=time.monotonic() - started)
            else:
                self.stats.add(http_requests=1)
                self._note_date(answer.headers)
                self.trace.http(url, cmdlet, answer=answer, seconds=time.monotonic() - started)
                try:
                    if answer.status == 200:
                        return parse(answer.body, cmdlet), answer, throttled, transient + 1
                    raise decode_error(answer.status, answer.headers, answer.body, cmdlet)
                except ExoError as exc:
                    error = exc
            error.earlier_sends = transient
            if error.kind == "throttled":
                self.stats.add(throttled=1)
            if error.kind == "unauthorized" and not retry:
                self.renew(token)  # the runner's retries go out with a new token
            if not retry or error.kind not in ("unauthorized", "throttled", "transient"):
                raise error
            if error.kind == "unauthorized":
                unauthorized += 1
                if unauthorized > 2:
                    error.message = ("Exchange Online refused the app's token (401: %s). Fix: give the app registration "
                                     "the application permission Exchange.ManageAsApp of 'Office 365 Exchange Online' "
                                     "and grant admin consent." % error.message)
                    error.kind = "auth"
                    raise error
                self.renew(token)
            elif error.kind == "throttled":
                throttled += 1
                if throttled >= MAX_THROTTLED_ATTEMPTS:
                    error.message = "still throttled after %d attempts: %s" % (throttled, error.message)
                    raise error
                self._sleep(error.retry_after)
            else:
                transient += 1
                if transient >= MAX_TRANSIENT_ATTEMPTS:
                    error.message = "%s (after %d attempts)" % (error.message, transient)
                    raise error
                self._sleep(backoff_delay(transient))
            self.stats.add(retries=1)

    def _note_date(self, headers):
        """Keep the service's clock from a Date header: incremental listings count on it, not on ours."""
        try:
            self.server_time = email.utils.parsedate_to_datetime(headers.get("Date")).timestamp()
        except (AttributeError, TypeError, ValueError, IndexError, OverflowError):
            pass  # no usable Date: the last one stays (earlier, so still safe as a listing mark)

    def _connection_error(self, exc, cmdlet):
        if isinstance(exc, requests.exceptions.SSLError):
            # A TLS failure does not get better by retrying; it needs ca_path or a fixed URL.
            return ExoError(explain_tls_error(exc, self.invoke_url), kind="tls", cmdlet=cmdlet)
        return ExoError("no answer from Exchange Online (%s)" % exc.__class__.__name__, kind="transient", cmdlet=cmdlet)

    def renew(self, rejected_token):
        """The API refused this token: have the provider get a new one (AuthError if it cannot)."""
        self.tokens.invalidate(rejected_token)

    # -- cmdlets --------------------------------------------------------------------

    @staticmethod
    def cmdlet_input(cmdlet, parameters):
        """The request body for one cmdlet call."""
        return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}

    def command_url(self, select=None):
        """The InvokeCommand URL, asking only for ``select`` properties when given."""
        if not select:
            return self.invoke_url
        return self.invoke_url + "?$select=" + ",".join(quote(name, safe="") for name in select)

    def invoke(self, cmdlet, parameters):
        """Run one cmdlet and return its CmdletResult (raises ExoError).

        A read's ``value`` is the complete answer: every page is followed (a listing is
        complete or an error, so nobody decides on the first page of many). A write's
        ``sends`` says whether an earlier send may already have applied it.
        """
        if request_class(cmdlet) == "read":
            records, warnings = [], []
            for page in self.iter_pages(cmdlet, parameters, with_warnings=warnings):
                records.extend(page)
            return CmdletResult(records, warnings)
        self.stats.count_cmdlet(cmdlet)
        result, _answer, _throttled, sends = self._post(self.invoke_url, self.cmdlet_input(cmdlet, parameters), cmdlet,
                                                        parse=parse_for(cmdlet))
        result.sends = sends
        return result

    def _next_url(self, link, seen, cmdlet):
        """The next page's URL, only if it is Exchange Online's own and not seen before."""
        url = urljoin(self.invoke_url, str(link))
        if _origin(url) != self._origin:
            raise ExoError("the listing's next-page link points to %s://%s, not to exchange_url; the module refuses to "
                           "send the token there, so the listing is incomplete."
                           % (urlsplit(url).scheme, urlsplit(url).netloc), kind="refused_link", cmdlet=cmdlet)
        if url in seen:
            raise ExoError("Exchange Online returned the same next-page link twice; the listing would never end. "
                           "Run again later.", kind="listing_loop", cmdlet=cmdlet)
        seen.add(url)
        return url

    def iter_pages(self, cmdlet, parameters, page_size=MAX_PAGE_SIZE, select=None, with_warnings=None):
        """Yield the ``value`` list of each page of a listing cmdlet, following @odata.nextLink.

        The API pages by POSTing the same body to the next link. Links expire after a
        few minutes: a refused link raises ExoError(kind='next_link_expired') so the
        caller can start the listing again. A page that is not a valid answer fails
        the listing (after retries): a listing is complete or an error, never shorter.
        ``with_warnings``, a list, collects the pages' warnings.
        """
        body = self.cmdlet_input(cmdlet, parameters)
        prefer = {"Prefer": "odata.maxpagesize=%d" % min(max(page_size, 1), MAX_PAGE_SIZE)}
        url, seen = self.command_url(select), set()
        for _page in range(MAX_PAGES):
            self.stats.count_cmdlet(cmdlet)
            try:
                page, _answer, _throttled, _sends = self._post(url, body, cmdlet, prefer, parse=parse_page)
            except ExoError as exc:
                if seen and exc.kind in ("bad_request", "not_found", "other"):
                    raise ExoError("the listing's next-page link was refused (%s)" % exc.message,
                                   status=exc.status, kind="next_link_expired", cmdlet=cmdlet)
                raise
            if with_warnings is not None:
                with_warnings.extend(page.warnings)
            yield page.value
            if not page.next_link:
                return
            url = self._next_url(page.next_link, seen, cmdlet)
        raise ExoError("the listing did not end after %d pages" % MAX_PAGES,
                       kind="listing_loop", cmdlet=cmdlet)

    def batch(self, calls):
        """Send up to 10 cmdlet calls in one $batch, once.

        ``calls`` is a list of (id, cmdlet, parameters, select). Returns (answers,
        throttled): ``answers`` maps each id to a CmdletResult or an ExoError;
        ``throttled`` counts the 429s of the outer request. An error of the whole batch
        raises ExoError; the runner retries the calls.
        """
        if not 0 < len(calls) <= MAX_BATCH_SIZE:
            raise ValueError("a $batch carries 1 to %d requests, not %d" % (MAX_BATCH_SIZE, len(calls)))
        sent_with = []

        def payload(token):
            sent_with.append(token)
            return {"requests": [
                {
                    "id": str(call_id),
                    "method": "POST",
                    "url": self.command_url(select),
                    "headers": self.headers(token, cmdlet),
                    "body": self.cmdlet_input(cmdlet, parameters),
                }
                for call_id, cmdlet, parameters, select in calls
            ]}
        for _call_id, cmdlet, _parameters, _select in calls:
            self.stats.count_cmdlet(cmdlet)
        self.stats.add(batches=1)
        cmdlets = {str(call_id): cmdlet for call_id, cmdlet, _parameters, _select in calls}
        answers, _answer, throttled, _sends = self._post(
            self.batch_url, payload, "$batch", {"Prefer": "odata.continue-on-error"},
            retry=False, parse=lambda body, _cmdlet: self._sub_answers(body, cmdlets))
        if any(isinstance(outcome, ExoError) and outcome.kind == "unauthorized" for outcome in answers.values()):
            # The token expired while the batch ran: renew it before the retries go out.
            self.renew(sent_with[-1])
        return answers, throttled

    def _sub_answers(self, body, cmdlets):
        """Each sub-request's outcome; an id the answer does not cover is a transient error."""
        data = _load_json(body)
        responses = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(responses, list):
            raise invalid_answer("a $batch answer without 'responses'", "$batch")
        answers = {}
        for item in responses:
            if not isinstance(item, dict) or str(item.get("id")) not in cmdlets or str(item.get("id")) in answers:
                continue
            call_id = str(item["id"])
            answers[call_id] = self._sub_answer(item, cmdlets[call_id])
        self.trace.batch(cmdlets, answers)
        for call_id, cmdlet in cmdlets.items():
            answers.setdefault(call_id, invalid_answer("the $batch answer had no response for this request", cmdlet))
        return answers

    @staticmethod
    def _sub_answer(item, cmdlet):
        try:
            status = int(item.get("status"))
        except (TypeError, ValueError):
            return invalid_answer("a sub-response without a status", cmdlet)
        if status != 200:
            return decode_error(status, item.get("headers"), item.get("body"), cmdlet)
        try:
            return parse_for(cmdlet)(item.get("body"), cmdlet)
        except ExoError as exc:
            return exc


def connect(params, pool_size=16):
    """An ExoClient for the module parameters (auth options of AUTH_ARGUMENT_SPEC)."""
    login_url, exchange_url, custom_login = resolve_endpoints(params["cloud"], params.get("login_url"), params.get("exchange_url"))
    verify = tls_verify(params)
    session = requests.Session()
    # Environment proxies stay honoured; REQUESTS_CA_BUNDLE does not override ca_path (verify= per call).
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size + 2, max_retries=0)
    session.mount("https://", adapter)
    trace = CallTrace(params.get("debug_log"))
    http_client = VerifiedHttpClient(session, verify, params["timeout"])
    tokens = build_token_provider(params, login_url, exchange_url, custom_login, http_client)
    # The tenant GUID of the token: URL path and anchor use it whatever form ``tenant`` has.
    tenant_id = tokens.tenant_id()
    trace.event("connected", tenant_id=tenant_id, exchange_host=urlsplit(exchange_url).hostname)
    return ExoClient(session, exchange_url, tokens, tenant_id, verify=verify, timeout=params["timeout"], trace=trace)
