# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mailboxes whose own EWS switch is off (``Get-CASMailbox`` EwsEnabled false), and turning it on.

The organisation's allow list lets an app through, but a mailbox whose CAS setting
``EwsEnabled`` is false stays closed to EWS (Set-CASMailbox.md: the mailbox value counts unless
the organisation's is false). The mailboxes in scope are chosen with the same options and code
as o365_mailbox_fullaccess (exo_selection). Which of them are blocked is asked in one of two ways:

- an explicit ``mailboxes`` list: one ``Get-CASMailbox -Identity`` per mailbox, batched;
- otherwise one server-side listing, ``Get-CASMailbox -Filter "EwsEnabled -eq 0"`` (the value
  form of the filter-properties page), matched against the selected mailboxes by GUID. Blocked
  mailboxes are few, so this costs a page or two instead of a request per mailbox.

Fixing is ``Set-CASMailbox -Identity <guid> -EwsEnabled $true`` per blocked mailbox, batched.
"""

from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import CmdletResult, ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import BatchRunner, Call
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import ambiguity
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import (
    MAX_LISTING_RESTARTS,
    Scope,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import select_mailboxes as select_in_scope

BLOCKED_FILTER = "EwsEnabled -eq 0"
LISTED_PROPERTIES = ("Guid", "PrimarySmtpAddress", "EwsEnabled")


class NoTrustee:
    """Scope() leaves the trustee's own mailbox out; checking EWS switches has no trustee."""

    guid = None


def select_mailboxes(client, params):
    """The mailboxes in scope (exo_selection options) and the Scope that counted them."""
    scope = Scope(params["exclude"], params["query"], NoTrustee())
    return select_in_scope(client, params, scope), scope


def _is_false(value):
    return value is False or str(value).strip().lower() == "false"


def _raise_if_aborted(runner):
    if runner.aborted is not None:
        raise runner.aborted


def blocked_by_listing(client, mailboxes, recipient_type_details=None):
    """The selected mailboxes that a server-side listing of EwsEnabled=false mailboxes names."""
    parameters = {"Filter": BLOCKED_FILTER, "ResultSize": "Unlimited"}
    if recipient_type_details:
        parameters["RecipientTypeDetails"] = list(recipient_type_details)
    for attempt in range(MAX_LISTING_RESTARTS + 1):
        blocked = set()
        try:
            for page in client.iter_pages("Get-CASMailbox", parameters, select=LISTED_PROPERTIES):
                for record in page:
                    if isinstance(record, dict) and _is_false(record.get("EwsEnabled")):
                        blocked.add(str(record.get("Guid") or record.get("PrimarySmtpAddress")).lower())
            break
        except ExoError as exc:
            if exc.kind == "next_link_expired" and attempt < MAX_LISTING_RESTARTS:
                continue
            raise
    return [mailbox for mailbox in mailboxes
            if mailbox.identity.lower() in blocked or mailbox.address.lower() in blocked]


def blocked_one_by_one(client, mailboxes, max_concurrency):
    """The mailboxes whose Get-CASMailbox says EwsEnabled false; returns (blocked, failed)."""
    blocked, failed = [], []

    def settle(call, outcome):
        if isinstance(outcome, Exception):
            failed.append({"mailbox": call.context.address, "reason": "Get-CASMailbox failed: %s" % outcome})
        elif outcome.value and _is_false(outcome.value[0].get("EwsEnabled")):
            blocked.append(call.context)

    runner = BatchRunner(client, max_concurrency=max_concurrency)
    for mailbox in mailboxes:
        runner.submit(Call("Get-CASMailbox", {"Identity": mailbox.identity}, settle, context=mailbox))
    runner.run()
    _raise_if_aborted(runner)
    return blocked, failed


def enable_ews(client, mailboxes, max_concurrency, fixed=None):
    """Set-CASMailbox -EwsEnabled $true on each mailbox; returns (fixed, failed).

    ``fixed`` (a list) gets each mailbox as it is confirmed, so a run that stops half-way
    still knows what it changed.

    As for every write of this collection (see exo_writes), an ambiguous answer (an error, a
    warning, a send that went out more than once) is settled by reading the mailbox back.
    """
    fixed = [] if fixed is None else fixed
    failed = []
    runner = BatchRunner(client, max_concurrency=max_concurrency)

    def read_back(call, outcome):
        doubt = call.context[1]
        if isinstance(outcome, Exception):
            failed.append({"mailbox": call.context[0].address, "reason": "Set-CASMailbox: %s, and reading the mailbox back "
                           "failed too: %s" % (doubt, outcome)})
        elif outcome.value and str(outcome.value[0].get("EwsEnabled")).strip().lower() == "true":
            fixed.append(call.context[0])
        else:
            failed.append({"mailbox": call.context[0].address, "reason": "Set-CASMailbox: %s; the mailbox read back still "
                           "has EwsEnabled off" % doubt})

    def settle(call, outcome):
        mailbox = call.context
        if isinstance(outcome, ExoError) and (outcome.fatal or outcome.kind == "unavailable"):
            failed.append({"mailbox": mailbox.address, "reason": "Set-CASMailbox failed: %s" % outcome})
            return
        doubt = ambiguity(outcome if isinstance(outcome, (ExoError, CmdletResult)) else ExoError(str(outcome)),
                          sends=call.attempts)
        if doubt is None:
            fixed.append(mailbox)
            return
        runner.submit(Call("Get-CASMailbox", {"Identity": mailbox.identity}, read_back, context=(mailbox, doubt)))

    for mailbox in mailboxes:
        runner.submit(Call("Set-CASMailbox", {"Identity": mailbox.identity, "EwsEnabled": True}, settle, context=mailbox))
    runner.run()
    _raise_if_aborted(runner)
    return fixed, failed


def find_blocked(client, params, mailboxes):
    """The selected mailboxes whose own EwsEnabled is false; returns (blocked, failed lookups)."""
    if params["mailboxes"] is not None:
        return blocked_one_by_one(client, mailboxes, params["max_concurrency"])
    return blocked_by_listing(client, mailboxes, params["recipient_type_details"]), []
