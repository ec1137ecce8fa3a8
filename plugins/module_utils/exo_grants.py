# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply FullAccess grants, one small state machine per mailbox.

For each mailbox: read its permission rows for the trustee (Get-MailboxPermission
-User), decide, and, unless in check mode, Add or Remove. Every mailbox ends in
exactly one of: unchanged, changed, failed (with its reason).

A grant counts when FullAccess is among AccessRights, Deny is false, IsInherited is
false and the row's User names the trustee (UPN or SMTP address, any case). SELF,
group and orphaned-SID rows never match the trustee, so they are ignored.
"""

from __future__ import annotations

import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import Call

FULL_ACCESS = "FullAccess"
ALREADY_PRESENT = "already present"
NOT_PRESENT = ("doesn't exist", "does not exist")


def _flag(value):
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _rights(row):
    rights = row.get("AccessRights") or []
    if isinstance(rights, str):
        rights = rights.split(",")
    return {str(right).strip().lower() for right in rights}


def explicit_grants(rows, trustee):
    """The rows that make a FullAccess grant to the trustee (see module docstring)."""
    return [
        row for row in rows
        if trustee.matches(row.get("User"))
        and FULL_ACCESS.lower() in _rights(row)
        and not _flag(row.get("Deny"))
        and not _flag(row.get("IsInherited"))
    ]


class Report:
    """Where every mailbox ended up."""

    def __init__(self):
        self.unchanged = 0
        self.from_state = 0
        self.changed = []
        self.failed = []

    def fail(self, mailbox, reason):
        """Record a mailbox that could not be brought to the desired state."""
        self.failed.append({"mailbox": mailbox.address, "reason": reason})


class MailboxWork:
    """Per-mailbox progress through check, remove(s) and add."""

    __slots__ = ("mailbox", "removals", "not_found_since", "not_found_retries")

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.removals = []
        self.not_found_since = None
        self.not_found_retries = 0


class GrantEngine:
    """Brings each mailbox's FullAccess grant for the trustee to the desired state."""

    def __init__(self, runner, trustee, state="present", check_mode=False, auto_mapping=False, inheritance_type="All",
                 recreate=False, replication_wait=120.0, verified=None, clock=time.monotonic):
        self.runner = runner
        self.trustee = trustee
        self.state = state
        self.check_mode = check_mode
        self.auto_mapping = auto_mapping
        self.inheritance_type = inheritance_type
        self.recreate = recreate
        self.replication_wait = replication_wait
        self.verified = verified
        self.report = Report()
        self._clock = clock

    def run(self, mailboxes):
        """Process every mailbox; returns the Report."""
        for mailbox in mailboxes:
            if self.state == "present" and not self.recreate and self.verified is not None \
                    and self.verified.is_fresh(mailbox.identity):
                self.report.unchanged += 1
                self.report.from_state += 1
                continue
            self._submit_check(MailboxWork(mailbox))
        self.runner.run()
        return self.report

    # -- calls ----------------------------------------------------------------------

    def _submit_check(self, work, delay=0.0):
        parameters = {"Identity": work.mailbox.identity, "User": self.trustee.upn}
        self.runner.submit(Call("Get-MailboxPermission", parameters, self._on_check, work), delay=delay)

    def _submit_add(self, work, delay=0.0):
        parameters = {
            "Identity": work.mailbox.identity,
            "User": self.trustee.upn,
            "AccessRights": [FULL_ACCESS],
            "InheritanceType": self.inheritance_type,
            "AutoMapping": self.auto_mapping,
            "Confirm": False,
        }
        self.runner.submit(Call("Add-MailboxPermission", parameters, self._on_add, work), delay=delay)

    def _submit_remove(self, work, delay=0.0):
        row = work.removals[0]
        parameters = {
            "Identity": work.mailbox.identity,
            "User": self.trustee.upn,
            "AccessRights": [FULL_ACCESS],
            "InheritanceType": row.get("InheritanceType") or "All",
            "Confirm": False,
        }
        self.runner.submit(Call("Remove-MailboxPermission", parameters, self._on_remove, work), delay=delay)

    # -- outcomes -------------------------------------------------------------------

    def _unchanged(self, work):
        self.report.unchanged += 1
        self._remember(work)

    def _changed(self, work):
        self.report.changed.append(work.mailbox.address)
        self._remember(work)

    def _remember(self, work):
        if self.verified is None or self.check_mode:
            return
        if self.state == "present":
            self.verified.record(work.mailbox.identity)
        else:
            self.verified.forget(work.mailbox.identity)

    def _failed(self, work, step, error):
        if self.verified is not None:
            self.verified.forget(work.mailbox.identity)
        self.report.fail(work.mailbox, "%s failed: %s" % (step, error))

    def _not_found(self, call, error, resubmit):
        """A listed mailbox that answers 'not found' is usually still replicating: wait for it."""
        work = call.context
        now = self._clock()
        if work.not_found_since is None:
            work.not_found_since = now
        waited = now - work.not_found_since
        if waited < self.replication_wait:
            work.not_found_retries += 1
            resubmit(work, delay=min(2.0 ** work.not_found_retries, 30.0))
        else:
            self._failed(work, call.cmdlet, "%s (still not found after %.0f s; a new mailbox can take minutes to "
                                            "replicate: run again later)" % (error.message, waited))

    def _on_check(self, call, outcome):
        work = call.context
        if self._settle_error(call, outcome, self._submit_check):
            return
        grants = explicit_grants(outcome.value, self.trustee)
        if self.state == "present":
            if grants and not self.recreate:
                self._unchanged(work)
            elif self.check_mode:
                self._changed(work)
            elif grants:
                work.removals = grants
                self._submit_remove(work)
            else:
                self._submit_add(work)
        elif not grants:
            self._unchanged(work)
        elif self.check_mode:
            self._changed(work)
        else:
            work.removals = grants
            self._submit_remove(work)

    def _settle_error(self, call, outcome, resubmit):
        """True when the outcome was an error, now retried (not found yet) or recorded as failed."""
        if not isinstance(outcome, ExoError):
            return False
        if outcome.kind == "not_found":
            self._not_found(call, outcome, resubmit)
        else:
            self._failed(call.context, call.cmdlet, outcome.message)
        return True

    def _on_add(self, call, outcome):
        work = call.context
        if self._settle_error(call, outcome, self._submit_add):
            return
        if any(ALREADY_PRESENT in str(warning).lower() for warning in outcome.warnings) and not self.recreate:
            # Someone granted it between our check and our add: right, and not our change.
            self._unchanged(work)
        else:
            self._changed(work)

    def _on_remove(self, call, outcome):
        work = call.context
        if self._settle_error(call, outcome, self._submit_remove):
            return
        work.removals.pop(0)
        if work.removals:
            self._submit_remove(work)
        elif self.state == "present":
            self._submit_add(work)  # recreate: the grant comes back with the requested AutoMapping
        elif any(any(text in str(warning).lower() for text in NOT_PRESENT) for warning in outcome.warnings):
            self._unchanged(work)
        else:
            self._changed(work)
