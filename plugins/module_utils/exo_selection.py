# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which mailboxes a run touches, and who the trustee is.

Scope is every mailbox by default (as the legacy guide's ``Get-Mailbox -ResultSize unlimited``),
narrowed on the server by ``recipient_type_details`` and an OPATH ``filter``, or given
as an explicit list; then ``exclude`` and a JMESPath ``query`` narrow it here. Only a
few fields of each mailbox are kept, so a 100,000-mailbox tenant fits in little memory.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import threading
import traceback
from collections import deque

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import BatchRunner, Call

try:
    import jmespath
except ImportError:
    jmespath = None
    JMESPATH_IMPORT_ERROR = traceback.format_exc()
else:
    JMESPATH_IMPORT_ERROR = None

ADDRESS_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Listing restarts allowed when the server refuses an expired next-page link.
MAX_LISTING_RESTARTS = 3
# Pages in a row that bring no mailbox not seen before: the server is repeating itself.
MAX_STALE_PAGES = 3
# The Get-Mailbox properties a run needs (identities_of, mailbox_from_record, Scope.admit).
# A full mailbox object has ~250 properties; asking for these few makes pages ~20x smaller.
LISTING_PROPERTIES = ("Guid", "ExternalDirectoryObjectId", "PrimarySmtpAddress", "UserPrincipalName", "Alias",
                      "EmailAddresses", "WindowsEmailAddress", "Name", "Identity", "RecipientTypeDetails")
# An incremental listing asks for what changed since the last complete listing started, minus
# this margin (seconds): it covers the Date header's whole seconds, clocks of the service's
# servers that disagree, and a new mailbox that reached the listing's servers late (replication).
LISTING_MARGIN = 3600
# JMESPath nodes whose children are evaluated against the same record as the node itself.
SAME_CONTEXT_NODES = ("comparator", "and_expression", "or_expression", "not_expression", "function_expression",
                      "multi_select_list", "multi_select_dict", "key_val_pair")
# Nodes whose first child is evaluated against the record and the rest against its result.
LEFT_CONTEXT_NODES = ("subexpression", "index_expression", "projection", "value_projection", "filter_projection",
                      "flatten", "pipe")


class SelectionError(ConfigurationError):
    """The scope or trustee cannot be used; the message says what to fix."""


class ListingStopped(Exception):
    """The run no longer wants the listing (it stopped): end it quietly."""


class Mailbox:
    """What a run needs to know about one mailbox."""

    __slots__ = ("identity", "address")

    def __init__(self, identity, address):
        self.identity = identity  # Guid: stable, unlike Name (a GUID-like string since 2022)
        self.address = address    # primary SMTP address, for people to read


def identities_of(record):
    """Every lower-cased name a mailbox or recipient record answers to."""
    names = set()
    for field in ("Guid", "ExternalDirectoryObjectId", "PrimarySmtpAddress", "UserPrincipalName", "Alias",
                  "Identity", "Name", "WindowsEmailAddress"):
        value = record.get(field)
        if value:
            names.add(str(value).lower())
    for address in record.get("EmailAddresses") or []:
        address = str(address)
        if address.lower().startswith("smtp:"):
            names.add(address[5:].lower())
    return names


def mailbox_from_record(record):
    """Keep only the identity and address of a Get-Mailbox record."""
    address = record.get("PrimarySmtpAddress") or record.get("UserPrincipalName") or str(record.get("Identity"))
    return Mailbox(str(record.get("Guid") or record.get("ExternalDirectoryObjectId") or address), address)


def compile_query(expression):
    """Compile a JMESPath expression, or explain what is wrong with it."""
    if expression is None:
        return None
    if not expression.strip():
        raise SelectionError("query is empty, which would select every mailbox. Fix: give a JMESPath expression, or "
                             "leave query out to select every mailbox.")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise SelectionError("query is not a valid JMESPath expression: %s. Fix the expression; it is evaluated "
                             "against each mailbox record, e.g. \"Department == 'Sales'\"." % str(exc).splitlines()[0])


def record_fields(node):
    """Names of the record properties a JMESPath AST reads, or None when it reads the whole record."""
    kind = node.get("type")
    if kind == "field":
        return {node["value"]}
    if kind in ("literal", "index", "slice", "expref"):
        return set()
    if kind in SAME_CONTEXT_NODES:
        names = set()
        for child in node.get("children") or []:
            child_names = record_fields(child)
            if child_names is None:
                return None
            names |= child_names
        return names
    if kind in LEFT_CONTEXT_NODES:
        return record_fields(node["children"][0])
    # current (@), identity, wildcards on the record, anything unknown: the whole record.
    return None


def listing_properties(query):
    """What to ask Get-Mailbox for (``$select``): the properties a run needs, or None for all."""
    if query is None:
        return list(LISTING_PROPERTIES)
    fields = record_fields(query.parsed)
    if fields is None:
        return None
    return list(LISTING_PROPERTIES) + sorted(fields - set(LISTING_PROPERTIES))


def check_address(option, value):
    """Fail early on something that cannot be a UPN or SMTP address."""
    if not ADDRESS_RE.match(value or ""):
        raise SelectionError("%s %r is not an e-mail address or UPN. Fix: give the address as user@domain, "
                             "e.g. svc-mse@contoso.onmicrosoft.com." % (option, value))


class Trustee:
    """The account that receives FullAccess, as Exchange knows it."""

    def __init__(self, record):
        self.upn = record.get("UserPrincipalName") or record.get("PrimarySmtpAddress")
        self.address = record.get("PrimarySmtpAddress") or self.upn
        self.guid = record.get("Guid")
        # Permission rows name a user by UPN (or an SMTP address); matching on aliases or
        # display names could mistake a group of the same name for the trustee.
        self.names = {str(name).lower() for name in (self.upn, self.address, record.get("WindowsEmailAddress")) if name}
        self.names.update(str(address)[5:].lower() for address in record.get("EmailAddresses") or []
                          if str(address).lower().startswith("smtp:"))

    def matches(self, user):
        """True when a permission row's User names this trustee (case-insensitive)."""
        return str(user or "").lower() in self.names


def _find(client, cmdlet, identity):
    """The records a Get- cmdlet returns for one identity; [] when Exchange says not found."""
    try:
        return client.invoke(cmdlet, {"Identity": identity}).value
    except ExoError as exc:
        if exc.kind != "not_found":
            raise
        return []


def resolve_trustee(client, user):
    """Look the trustee up; it must be a mailbox-enabled recipient."""
    record = _find(client, "Get-Mailbox", user)
    if record and isinstance(record[0], dict):
        return Trustee(record[0])
    recipient = _find(client, "Get-Recipient", user)
    if recipient:
        kind = recipient[0].get("RecipientTypeDetails") or recipient[0].get("RecipientType") or "a recipient"
        raise SelectionError("user %s exists in Exchange Online as %s but has no mailbox. The MSE service account must be "
                             "mailbox-enabled: give it an Exchange Online licence (or pick an account that has a mailbox)."
                             % (user, kind))
    raise SelectionError("user %s was not found in Exchange Online. Fix: use the UPN or primary SMTP address of the MSE "
                         "service account's mailbox." % user)


class Scope:
    """Client-side narrowing: exclude list, JMESPath query, and the trustee's own mailbox."""

    def __init__(self, exclude, query, trustee=None):
        self.exclude = {str(name).lower() for name in exclude or []}
        self.query = compile_query(query)
        self.trustee = trustee
        # A listing may start before the trustee lookup answers; no record is judged before it did.
        self._trustee_known = threading.Event()
        if trustee is not None:
            self._trustee_known.set()
        self.listed = 0
        self.excluded = 0
        self.unmatched_excludes = set(self.exclude)

    def set_trustee(self, trustee):
        """The trustee is known (None: the run stopped before it was; the listing then ends)."""
        self.trustee = trustee
        self._trustee_known.set()

    def admit(self, record):
        """Return a Mailbox for a record in scope, None (counted) for one left out."""
        self._trustee_known.wait()
        if self.trustee is None:
            raise ListingStopped()
        self.listed += 1
        names = identities_of(record)
        hit = names & self.exclude
        if hit:
            self.unmatched_excludes -= hit
            self.excluded += 1
            return None
        if self.trustee.guid and record.get("Guid") == self.trustee.guid:
            # The trustee owns its mailbox (NT AUTHORITY\SELF); a grant to itself means nothing.
            self.excluded += 1
            return None
        if self.query is not None and not self._query_admits(record):
            self.excluded += 1
            return None
        return mailbox_from_record(record)

    def _query_admits(self, record):
        try:
            return self.query.search(record)
        except jmespath.exceptions.JMESPathError as exc:
            # A type error shows only on real data (e.g. contains() on a null property).
            raise SelectionError("query %r failed on mailbox %s: %s. Fix the expression, for example guard a property "
                                 "that can be null with (Property || '')." % (
                                     self.query.expression, record.get("PrimarySmtpAddress"), str(exc).splitlines()[0]))


def opath_time(epoch):
    """A UTC time as an OPATH date value in the en-US form of filter-properties.md ('8/1/2017 2:00:00 PM').

    Built by hand: strftime's %p follows the control node's locale. The module asks for
    en-US answers (Accept-Language), the culture the value is read in.
    """
    when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
    return "%d/%d/%d %d:%02d:%02d %s" % (when.month, when.day, when.year, when.hour % 12 or 12, when.minute, when.second,
                                         "AM" if when.hour < 12 else "PM")


def changed_since_filter(opath_filter, since):
    """The user's filter narrowed to mailboxes created or changed after ``since`` (epoch seconds, service clock).

    WhenChangedUTC catches new mailboxes and those that moved into the filter's scope
    through an attribute change; WhenCreatedUTC is there in case a creation path does not
    set WhenChanged.
    """
    value = opath_time(since)
    clause = "(WhenChangedUTC -gt '%s') -or (WhenCreatedUTC -gt '%s')" % (value, value)
    return "(%s) -and (%s)" % (opath_filter, clause) if opath_filter else clause


def scope_key(params):
    """What a listing's scope depends on besides tenant and trustee; a mark is valid only for the same key."""
    scope = {"types": sorted(str(name).lower() for name in params["recipient_type_details"] or []),
             "filter": params["filter"], "query": params["query"],
             "exclude": sorted({str(name).strip().lower() for name in params["exclude"] or []})}
    return hashlib.sha256(json.dumps(scope, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class ListingPlan:
    """How this run lists mailboxes: ``full``, ``incremental`` (since a mark) or ``explicit`` (mailboxes), and why."""

    def __init__(self, mode, reason, scope=None, started=None, since=None, full=None):
        self.mode = mode
        self.reason = reason
        self.scope = scope        # scope_key, when this run may record a mark
        self.started = started    # service time before the listing, or None
        self.since = since        # incremental: list what changed after this service time
        self.full = full          # service time of the last full listing this run builds on

    def as_result(self):
        """The ``listing`` part of the module result."""
        result = {"mode": self.mode, "reason": self.reason}
        if self.since is not None:
            result["changed_since"] = datetime.datetime.fromtimestamp(self.since, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        return result

    def mark(self):
        """(since, full) to record after a run that handled every listed mailbox, or None."""
        if self.scope is None or self.started is None:
            return None
        return self.started - LISTING_MARGIN, self.full if self.mode == "incremental" else self.started


def plan_listing(params, verified, server_time):
    """Decide between a full and an incremental listing; when in doubt, full.

    Incremental needs a state file with a complete listing of the same scope, started
    less than state_max_age ago on the service's clock (``server_time``, from its Date
    header), and a state=present run. The control node's clock never takes part.
    """
    if params["mailboxes"] is not None:
        return ListingPlan("explicit", "mailboxes lists them")
    present = params["state"] == "present"
    scope = scope_key(params) if present and verified is not None and server_time is not None else None
    plan = ListingPlan("full", "", scope=scope, started=server_time)
    if verified is None:
        plan.reason = "no state_file"
    elif not present:
        plan.reason = "state is absent"
    elif params["recreate_existing"]:
        plan.reason = "recreate_existing touches every grant"
    elif params["state_max_age"] == 0:
        plan.reason = "state_max_age is 0"
    elif server_time is None:
        plan.reason = "Exchange Online's answers carried no Date header to time the listing by"
    else:
        mark = verified.listing_mark(scope)
        if mark is None:
            plan.reason = "the state file holds no complete listing of this scope (trustee, types, filter, query, exclude)"
        elif server_time - mark["full"] >= params["state_max_age"] * 3600:
            plan.reason = "the last full listing is older than state_max_age"
        elif mark["since"] > server_time:
            plan.reason = "the recorded listing time is later than Exchange Online's clock"
        else:
            plan.mode, plan.since, plan.full = "incremental", mark["since"], mark["full"]
            plan.reason = "the state file holds a complete listing of this scope"
    return plan


class ListingFeed:
    """Mailboxes handed to the grant engine while the listing is still on its way.

    Listing 100,000 mailboxes is 100 sequential pages (about half a minute); the grants that
    follow take minutes at the tenant's write budget. The listing runs on its own thread and
    puts each mailbox in scope here as its page arrives, so the first grants start after
    the first page instead of the last. What a listing that fails half way leaves behind is
    only grants on mailboxes Exchange Online listed as in scope; the run then fails with the
    listing's error and reports what it did, and records no listing mark (nothing is ever
    decided, recorded or removed on the strength of an incomplete listing).
    """

    def __init__(self):
        self._queue = deque()
        self._finished = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._cut_short = False
        self.error = None   # what ended the listing early (an exception, raised again by the run)
        self.fed = 0        # mailboxes handed over so far

    def start(self, list_into):
        """Run ``list_into(self)`` on a thread; it calls put() for every mailbox in scope."""
        def work():
            try:
                list_into(self)
            except ListingStopped:
                self._cut_short = True
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.error = exc  # raised again on the run's thread, traceback kept
            finally:
                self._finished.set()

        self._thread = threading.Thread(target=work, name="exo-listing", daemon=True)
        self._thread.start()
        return self

    def put(self, mailbox):
        """Hand one listed mailbox over (listing thread)."""
        self.check()
        self._queue.append(mailbox)
        self.fed += 1

    def check(self):
        """Raise ListingStopped when the run stopped: no further page is asked for."""
        if self._stop.is_set():
            raise ListingStopped()

    def stop(self):
        """The run is over: the listing ends at its next page."""
        self._stop.set()

    @property
    def finished(self):
        """True once the listing ended, however."""
        return self._finished.is_set()

    @property
    def complete(self):
        """True once the listing ended by itself, without an error."""
        return self._finished.is_set() and self.error is None and not self._cut_short

    def mailboxes(self):
        """The listed mailboxes, in order; None while none is waiting but more may come; ends with the listing."""
        while True:
            if self._queue:
                yield self._queue.popleft()
            elif self._finished.is_set():
                if not self._queue:  # put() may have run between the two looks
                    return
            else:
                yield None


def plan_turns_on_trustee(params, holds_listings):
    """True when the listing plan may depend on the trustee's listing marks (an incremental listing is possible).

    Otherwise the listing is full (or explicit) whoever the trustee is, and may go out together
    with the trustee lookup. ``holds_listings()`` says whether the state file has marks of this tenant.
    """
    return params["mailboxes"] is None and params["state"] == "present" and bool(params["state_file"]) \
        and not params["recreate_existing"] and params["state_max_age"] > 0 and holds_listings()


def list_mailboxes(client, scope, recipient_type_details=None, opath_filter=None, page_size=1000, changed_since=None,
                   sink=None):
    """Every mailbox in scope, listed on the server (paged) and narrowed by ``scope``.

    An expired next-page link restarts the listing; mailboxes already seen are not
    counted twice. A listing that cannot be completed raises: it never narrows the scope.
    With ``changed_since``, only mailboxes created or changed after it are listed. With
    ``sink`` (a ListingFeed), each mailbox is put there as its page arrives and nothing is
    returned.
    """
    parameters = {"ResultSize": "Unlimited"}
    if recipient_type_details:
        parameters["RecipientTypeDetails"] = list(recipient_type_details)
    if changed_since is not None:
        parameters["Filter"] = changed_since_filter(opath_filter, changed_since)
    elif opath_filter:
        parameters["Filter"] = opath_filter
    select = listing_properties(scope.query)
    selected, seen = [], set()
    for attempt in range(MAX_LISTING_RESTARTS + 1):
        try:
            stale = 0
            for page in client.iter_pages("Get-Mailbox", parameters, page_size=page_size, select=select):
                if sink is not None:
                    sink.check()
                fresh = 0
                for record in page:
                    key = str(record.get("Guid") or record.get("PrimarySmtpAddress")) if isinstance(record, dict) else None
                    if key is None or key in seen:
                        continue
                    seen.add(key)
                    fresh += 1
                    mailbox = scope.admit(record)
                    if mailbox is None:
                        continue
                    if sink is not None:
                        sink.put(mailbox)
                    else:
                        selected.append(mailbox)
                stale = 0 if fresh else stale + 1
                if page and stale >= MAX_STALE_PAGES:
                    raise ExoError("Exchange Online kept returning pages of mailboxes already listed; the listing would "
                                   "never end. Run again later.", kind="listing_loop", cmdlet="Get-Mailbox")
            return None if sink is not None else selected
        except ExoError as exc:
            if exc.kind == "next_link_expired" and attempt < MAX_LISTING_RESTARTS:
                continue
            if exc.kind == "bad_request" and opath_filter and changed_since is None:
                raise SelectionError("Exchange Online rejected the listing: %s. Fix: check the OPATH filter %r "
                                     "(for example \"Department -eq 'Sales'\")." % (exc.message, opath_filter))
            raise
    raise SelectionError("the mailbox listing could not be completed")  # pragma: no cover - loop always returns or raises


def resolve_listed(client, scope, identities, max_concurrency=8):
    """Look up an explicit list of mailboxes; returns (mailboxes, unknown identities, errors)."""
    found, unknown, errors = {}, [], []

    def settle(call, outcome):
        if isinstance(outcome, ExoError):
            if outcome.kind == "not_found":
                unknown.append(call.context)
            else:
                errors.append("%s: %s" % (call.context, outcome.message))
        elif not outcome.value:
            unknown.append(call.context)
        else:
            record = outcome.value[0]
            if not isinstance(record, dict):
                errors.append("%s: Exchange Online answered with something that is not a mailbox" % call.context)
                return
            key = str(record.get("Guid") or record.get("PrimarySmtpAddress"))
            if key not in found:
                found[key] = record

    runner = BatchRunner(client, max_concurrency=max_concurrency)
    select = listing_properties(scope.query)
    for identity in identities:
        runner.submit(Call("Get-Mailbox", {"Identity": identity}, settle, context=identity, select=select))
    runner.run()
    mailboxes = [mailbox for mailbox in (scope.admit(record) for record in found.values()) if mailbox is not None]
    return mailboxes, sorted(unknown), errors


def check_selection(params):
    """Fail on scope options that cannot mean what they say, before anything is sent.

    An empty ``mailboxes``, ``recipient_type_details``, ``filter`` or ``query`` would
    otherwise read as "every mailbox".
    """
    compile_query(params["query"])
    for name in ("mailboxes", "recipient_type_details"):
        if params[name] is not None and not [value for value in params[name] if value and value.strip()]:
            raise SelectionError("%s is empty, which cannot mean every mailbox. Fix: list at least one value, or leave %s "
                                 "out to select every mailbox." % (name, name))
    if params["filter"] is not None and not params["filter"].strip():
        raise SelectionError("filter is empty, which cannot mean every mailbox. Fix: give an OPATH filter, or leave "
                             "filter out to select every mailbox.")
    if not 1 <= params["max_concurrency"] <= 64:
        raise SelectionError("max_concurrency must be between 1 and 64")


def select_mailboxes(client, params, scope, changed_since=None, sink=None):
    """The mailboxes in scope: an explicit ``mailboxes`` list (all must exist) or a server-side listing.

    With ``sink``, a listing puts each mailbox there as its page arrives; an explicit list
    is looked up whole first (every name must exist before anything is handed over).
    """
    if params["mailboxes"] is None:
        return list_mailboxes(client, scope, params["recipient_type_details"], params["filter"],
                              changed_since=changed_since, sink=sink)
    names = list(dict.fromkeys(name.strip() for name in params["mailboxes"] if name and name.strip()))
    mailboxes, unknown, errors = resolve_listed(client, scope, names, max_concurrency=params["max_concurrency"])
    if unknown:
        raise SelectionError("these mailboxes do not exist in Exchange Online: %s. Nothing was changed. Fix: correct or "
                             "remove them from mailboxes (new mailboxes may take a few minutes to appear)." % ", ".join(unknown))
    if errors:
        raise SelectionError("could not look up every mailbox in mailboxes, so nothing was changed: %s" % "; ".join(errors))
    if sink is not None:
        for mailbox in mailboxes:
            sink.put(mailbox)
        return None
    return mailboxes
