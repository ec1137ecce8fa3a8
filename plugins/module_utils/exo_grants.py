# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan and apply FullAccess grants, one small state machine per mailbox.

For each mailbox: read its permission rows for the trustee (Get-MailboxPermission
-User), decide, and, unless in check mode, Add or Remove. Every mailbox ends in
exactly one of: unchanged, changed, failed (with its reason).

A mailbox is "changed" only when the change was made and confirmed. A clean answer to
the Add (or Remove), first time, with no warning, confirms it. Any other answer is
ambiguous (a warning in whatever language, no ``value``, an answer to a retried send
whose first try may have worked, an error): the mailbox's permission is read again,
one request, and the grant is judged from what is there. No warning text decides it.

A grant counts when FullAccess is among AccessRights, Deny is false, IsInherited is
false and the row's User names the trustee (UPN or SMTP address, any case). SELF,
group and orphaned-SID rows never match the trustee, so they are ignored.
"""

from __future__ import annotations

import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import Call
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import ambiguity

FULL_ACCESS = "FullAccess"


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
    """Per-mailbox progress through check, remove(s), add and verification."""

    __slots__ = ("mailbox", "removals", "not_found_since", "not_found_retries", "last_write")

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.removals = []
        self.not_found_since = None
        self.not_found_retries = 0
        self.last_write = None  # (cmdlet, what it answered) while a verification is pending


class GrantEngine:
    """Brings each mailbox's FullAccess grant for the trustee to the desired state."""

    def __init__(self, runner, trustee, state="present", check_mode=False, auto_mapping=False, inheritance_type="All",
                 recreate=False, replication_wait=120.0, verified=None, clock=time.monotonic):
        # pylint: disable=too-many-arguments
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
        self._waiting = iter(())

    def run(self, mailboxes):
        """Process every mailbox; returns the Report."""
        if self.verified is not None and not self.check_mode:
            # An interrupted long run keeps what it verified.
            self.runner.on_progress = self.verified.save_if_due
        self._waiting = iter(mailboxes)
        self.runner.run(feed=self._feed)
        return self.report

    def _feed(self, room):
        """Start checking up to ``room`` more mailboxes; False once every mailbox was started.

        The runner takes mailboxes as its backlog drains, so the per-mailbox calls of a
        large tenant are never all in memory at once. A None from the mailboxes means "none
        listed yet, more to come" (see exo_selection.ListingFeed).
        """
        for mailbox in self._waiting:
            if mailbox is None:
                return True
            if self.state == "present" and not self.recreate and self.verified is not None \
                    and self.verified.is_fresh(mailbox.identity):
                self.report.unchanged += 1
                self.report.from_state += 1
                continue
            self._submit_check(MailboxWork(mailbox))
            room -= 1
            if room <= 0:
                return True
        return False

    # -- calls ----------------------------------------------------------------------

    def _submit_check(self, work, delay=0.0, handler=None):
        parameters = {"Identity": work.mailbox.identity, "User": self.trustee.upn}
        self.runner.submit(Call("Get-MailboxPermission", parameters, handler or self._on_check, work), delay=delay)

    def _submit_verify(self, work, call, doubt):
        """Read the permission again after an ambiguous answer to a write (``doubt`` says what was ambiguous)."""
        work.last_write = (call.cmdlet, doubt)
        self._submit_check(work, handler=self._on_verify)

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

    @staticmethod
    def _ambiguous(call, outcome):
        """What makes a write's answer unconvincing, or None when it confirms the change."""
        if isinstance(outcome, ExoError):
            return outcome.message  # the failure message already says "<cmdlet> failed"
        return ambiguity(outcome, sends=call.attempts)

    def _after_write(self, call, outcome, resubmit, confirmed):
        """Settle a write: retry not-found, confirm a clean answer, verify anything else."""
        work = call.context
        if isinstance(outcome, ExoError) and outcome.kind == "not_found":
            self._not_found(call, outcome, resubmit)
            return
        if isinstance(outcome, ExoError) and (outcome.fatal or outcome.kind == "unavailable"):
            # The run is stopping: a read-back would not be sent either.
            self._failed(work, call.cmdlet, outcome.message)
            return
        doubt = self._ambiguous(call, outcome)
        if doubt is None:
            confirmed(work)
        else:
            self._submit_verify(work, call, doubt)

    def _on_add(self, call, outcome):
        self._after_write(call, outcome, self._submit_add, self._changed)

    def _on_remove(self, call, outcome):
        def next_step(work):
            work.removals.pop(0)
            if work.removals:
                self._submit_remove(work)
            elif self.state == "present":
                self._submit_add(work)  # recreate: the grant comes back with the requested AutoMapping
            else:
                self._changed(work)
        self._after_write(call, outcome, self._submit_remove, next_step)

    def _on_verify(self, call, outcome):
        """The grant as it is after an ambiguous write decides the mailbox."""
        work = call.context
        cmdlet, doubt = work.last_write
        if isinstance(outcome, ExoError):
            self._failed(work, cmdlet, "%s, and reading the permission back failed too: %s" % (doubt, outcome.message))
            return
        granted = bool(explicit_grants(outcome.value, self.trustee))
        if cmdlet == "Add-MailboxPermission":
            if granted:
                self._changed(work)
            else:
                self._failed(work, cmdlet, "%s; the permission read back shows no grant" % doubt)
        elif granted:
            self._failed(work, cmdlet, "%s; the permission read back shows the grant still there" % doubt)
        elif self.state == "present":
            work.removals = []
            self._submit_add(work)  # recreate_existing: removed, now add it back
        else:
            self._changed(work)
