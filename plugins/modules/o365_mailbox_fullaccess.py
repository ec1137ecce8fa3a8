#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: o365_mailbox_fullaccess
short_description: Grant or revoke FullAccess on Exchange Online mailboxes for a service account
version_added: 1.0.0
description:
  - Makes sure a service account (the trustee O(user)) holds, or no longer holds, C(FullAccess) on every selected
    Exchange Online mailbox, as the Mimecast Synchronization Engine needs.
  - The modern replacement for C(Get-Mailbox -ResultSize unlimited | Add-MailboxPermission -User svc -AccessRights FullAccess
    -InheritanceType All). It runs on the control node and speaks the Exchange Online admin REST API (C(InvokeCommand),
    C($batch)) with app-only tokens from MSAL; no PowerShell is involved.
  - Mailboxes are listed in pages of 1000, asking only for the few properties the module needs (plus those O(query) reads),
    their permissions are read and changed in batches of ten, and batches run concurrently with a concurrency that grows
    while the tenant answers cleanly and shrinks when it throttles. C(Retry-After) is honoured; throttled, failed (5xx),
    malformed and dropped requests are retried, each call within one budget of five sends; tokens are renewed during
    long runs. When most recent requests fail, the module stops sending and reports what it did and what it did not.
  - An answer counts only when it has the documented shape and no C(@adminapi.errors). A mailbox is reported changed
    only when the grant was made and confirmed; when Exchange Online's answer to an Add or Remove is ambiguous (a warning,
    no result, a retried send, an error), the mailbox's permission is read back once and decides.
  - The token is sent only to O(exchange_url); redirects are never followed and a next-page link to another host is
    refused. The tenant is addressed by the GUID in the token, whatever form O(tenant) was given in.
  - A grant counts when C(FullAccess) is among the row's AccessRights, it is not a Deny, not inherited, and the row names
    the trustee (UPN or SMTP address, in any case). SELF, group and orphaned-SID rows are ignored.
  - Every selected mailbox ends up either confirmed or listed in RV(failed_mailboxes) with its reason; the task fails if
    any mailbox failed. One mailbox's failure never stops the others.
  - With O(state_file), grants verified recently are trusted without a request, so an onboarding run costs the listing
    plus the new mailboxes.
  - Mailboxes are handled as the listing's pages arrive, so on a large tenant the grants do not wait for the last page.
    A listing that breaks off half way fails the task with its error, after the mailboxes already listed (all of them
    in scope) were handled and reported; nothing is recorded or removed on the strength of an incomplete listing, and
    the next run picks up the rest. Bad options, an unknown trustee and an OPATH filter Exchange Online refuses fail
    before the first page, so before anything changes. With O(query) the whole listing is read first, so a query that
    fails on some mailbox's data also stops the run before any change.
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
extends_documentation_fragment:
  - mimecast_mse.sync_engine.exo_auth
  - mimecast_mse.sync_engine.exo_debug
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action_group:
    support: full
    membership: [mimecast_mse.sync_engine.exchange_online]
  check_mode:
    support: full
    description: Reads permissions and reports exactly which mailboxes would change; sends no Add or Remove.
  diff_mode:
    support: full
    description: Shows each mailbox that changes (or would change), up to O(report_limit) of them.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (with C(delegate_to) V(localhost)), not on a Windows host.
options:
  user:
    description:
      - The trustee, the MSE service account's mailbox, as its UPN or primary SMTP address.
      - It must be a mailbox-enabled recipient; the module fails before any change if it is not.
    type: str
    required: true
  state:
    description:
      - V(present) grants FullAccess where it is missing; V(absent) revokes the trustee's explicit FullAccess
        everywhere in scope (decommissioning).
    type: str
    default: present
    choices: [present, absent]
  mailboxes:
    description:
      - Only these mailboxes (UPN, SMTP address, alias or GUID) instead of every mailbox. The fast path for onboarding
        a few new users.
      - If any of them does not exist, the module fails before any change and names them.
      - Mutually exclusive with O(filter) and O(recipient_type_details).
    type: list
    elements: str
  recipient_type_details:
    description:
      - Only mailboxes of these types, for example V(UserMailbox), V(SharedMailbox), V(RoomMailbox), V(EquipmentMailbox).
        Evaluated by Exchange Online. An empty list is an error, not "every type".
    type: list
    elements: str
  filter:
    description:
      - An OPATH filter evaluated by Exchange Online, as for C(Get-Mailbox -Filter), for example V(Department -eq 'Sales').
        An empty filter is an error.
    type: str
  exclude:
    description:
      - Mailboxes never touched, by UPN, SMTP address (primary or proxy), alias or GUID, in any case.
      - The trustee's own mailbox is always left out.
    type: list
    elements: str
    default: []
  query:
    description:
      - A JMESPath expression evaluated on each mailbox record returned by C(Get-Mailbox); mailboxes for which it is
        false or empty are left out. For selections OPATH cannot express, for example
        V(contains(EmailAddresses, 'smtp:archive@contoso.com') == `false`).
      - The listing asks Exchange Online for the properties the expression reads; an expression that reads the whole
        record (C(@), wildcards) makes it ask for full mailbox objects, which are about 20 times larger.
      - Needs the Python library C(jmespath) on the control node.
    type: str
  auto_mapping:
    description:
      - AutoMapping of new grants. Leave it V(false) for a service account, otherwise Outlook opens every granted mailbox
        for it (Microsoft KB 2646504). The command of Mimecast's legacy guide used the API
        default, V(true).
      - AutoMapping of an existing grant cannot be read back, so existing grants are left alone unless
        O(recreate_existing=true).
    type: bool
    default: false
  inheritance_type:
    description:
      - InheritanceType of new grants.
    type: str
    default: All
    choices: [All, None, Children, Descendents, SelfAndChildren]
  recreate_existing:
    description:
      - Remove and re-add grants that already exist, so that O(auto_mapping) and O(inheritance_type) apply to them.
      - Every existing grant is reported as changed, so use it once, not in a recurring job.
    type: bool
    default: false
  state_file:
    description:
      - A local JSON file recording the mailboxes whose grant this module verified or made, and when.
      - With O(state=present), a mailbox verified less than O(state_max_age) hours ago is trusted without a request.
        A grant removed by someone else is therefore noticed only when its record ages out.
      - Records are kept per tenant and trustee; records of revoked or failed mailboxes are dropped. Not written in check mode.
      - It also records when the last complete listing of the scope started, on Exchange Online's clock (its C(Date)
        header, never the control node's). The next V(present) run with the same O(user), O(recipient_type_details),
        O(filter), O(query) and O(exclude) then lists only the mailboxes created or changed since, less one hour of
        margin (C(WhenChangedUTC) and C(WhenCreatedUTC) filters, combined with O(filter)), so an onboarding run costs
        about one listing page plus the new mailboxes. A mailbox that enters O(filter) through an attribute change is
        listed too, since the change moves its C(WhenChanged).
      - A full listing is made instead when the scope options changed, when the last full listing is older than
        O(state_max_age), with O(state_max_age=0) or O(recreate_existing=true), when Exchange Online refuses the date
        filter or sends no C(Date), and after a revoke (O(state=absent)) recorded in the same file. A run in which a
        mailbox failed or that stopped early keeps the previous mark, so what it missed is listed again.
      - Granting changes a mailbox's C(WhenChanged) too, so the first run after a large grant run lists those mailboxes
        once more (trusting them from the file, without permission reads).
      - Several runs may share the file (it is locked while written, and the latest observation of a mailbox wins, a
        revoke on a tie). Records dated in the future or not numbers are ignored, records older than O(state_max_age) are
        pruned, and a long run saves its progress every minute. The module checks that the file can be written before it
        changes anything; if the final write still fails, the result keeps its counts and changed list.
      - The file and its C(.lock) are readable by their owner only. A path that is a symlink to an existing file is
        followed; a symlink to nothing is refused.
      - On AWX/AAP a path inside the job's execution environment container is gone when the job ends, so every run
        verifies every mailbox again. Use a path that outlives the job (a directory exposed to isolated jobs, or a
        persistent volume of a container group).
    type: path
  state_max_age:
    description:
      - Hours after which a record in O(state_file) is verified again against Exchange Online.
      - V(0) ignores every record, verifies everything, and leaves in the file exactly what this run verified.
    type: int
    default: 168
  replication_wait:
    description:
      - Seconds to keep retrying a listed mailbox that Exchange Online still answers as not found (a new mailbox can take
        minutes to replicate) before it is reported as failed.
    type: int
    default: 120
  max_concurrency:
    description:
      - Upper bound of C($batch) requests in flight at once. The module starts lower and adapts to throttling.
    type: int
    default: 16
  progress_path:
    description:
      - A file where the module keeps a small JSON document of its progress (listed, checked, changed and failed
        mailboxes, the share of throttled calls) while it runs, replaced every few seconds and removed at the end.
      - The action plugin of this module sets it to show progress during long runs; you do not need to set it.
    type: path
  report_limit:
    description:
      - At most this many mailboxes are listed in RV(changed_mailboxes) and the diff; counts are always complete and
        RV(failed_mailboxes) is never shortened. V(0) means no limit.
    type: int
    default: 1000
seealso:
  - name: Add-MailboxPermission
    description: The cmdlet this module calls for each missing grant.
    link: https://learn.microsoft.com/powershell/module/exchange/add-mailboxpermission
  - name: App-only authentication in Exchange Online
    description: How to register the app this module authenticates as.
    link: https://learn.microsoft.com/powershell/exchange/app-only-auth-powershell-v2
'''

EXAMPLES = r'''
- name: Grant the MSE service account FullAccess on every mailbox (client secret from AWX's Azure credential)
  mimecast_mse.sync_engine.o365_mailbox_fullaccess:
    user: svc-mse@contoso.com
  delegate_to: localhost
  run_once: true

- name: Same, authenticating with a certificate, and only user and shared mailboxes
  mimecast_mse.sync_engine.o365_mailbox_fullaccess:
    user: svc-mse@contoso.com
    tenant: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000000
    certificate_path: /etc/ansible/secrets/mse-app.pfx
    certificate_password: "{{ vault_mse_app_pfx_password }}"
    recipient_type_details: [UserMailbox, SharedMailbox]
    exclude:
      - ceo@contoso.com
  delegate_to: localhost
  run_once: true

- name: Onboarding CI - just the new users' mailboxes
  mimecast_mse.sync_engine.o365_mailbox_fullaccess:
    user: svc-mse@contoso.com
    tenant: "{{ tenant_id }}"
    client_id: "{{ app_id }}"
    client_secret: "{{ vault_app_secret }}"
    mailboxes: "{{ new_users | map(attribute='mail') | list }}"
  delegate_to: localhost

- name: Nightly - every mailbox, but only re-read grants older than a week
  mimecast_mse.sync_engine.o365_mailbox_fullaccess:
    user: svc-mse@contoso.com
    state_file: /var/lib/awx/mse/fullaccess-state.json
    state_max_age: 168
  delegate_to: localhost
  run_once: true

- name: Decommission - revoke the service account everywhere
  mimecast_mse.sync_engine.o365_mailbox_fullaccess:
    user: svc-mse@contoso.com
    state: absent
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
trustee:
  description: The trustee as Exchange Online resolved it.
  returned: when the trustee was resolved
  type: dict
  sample: {"user_principal_name": "svc-mse@contoso.com", "primary_smtp_address": "svc-mse@contoso.com"}
counts:
  description:
    - Where every mailbox ended up. C(selected) = C(unchanged) + C(changed) + C(failed).
    - When the run stopped early (the tenant refused the app, no token could be had, Exchange Online kept failing),
      C(not_processed) counts the selected mailboxes it did not reach; they are also in RV(failed_mailboxes) when
      their calls were queued.
    - C(changed) counts grants made (V(present)) or revoked (V(absent)); in check mode, those that would be.
    - C(verified_from_state) is the part of C(unchanged) trusted from O(state_file) without a request.
  returned: when the trustee was resolved
  type: dict
  sample: {"listed": 1200, "excluded": 2, "selected": 1198, "unchanged": 1190, "verified_from_state": 1000,
           "changed": 8, "failed": 0}
changed_mailboxes:
  description: Primary SMTP addresses of the mailboxes changed (or that would be, in check mode), at most O(report_limit).
  returned: when the trustee was resolved
  type: list
  elements: str
  sample: ["new.user@contoso.com"]
changed_mailboxes_truncated:
  description: True when RV(changed_mailboxes) was cut at O(report_limit); RV(counts) has the full number.
  returned: when the trustee was resolved
  type: bool
failed_mailboxes:
  description: Every mailbox that could not be brought to the desired state, with the reason.
  returned: when the trustee was resolved
  type: list
  elements: dict
  sample: [{"mailbox": "room-12@contoso.com", "reason": "Add-MailboxPermission failed: ..."}]
state_file_saved:
  description: False when O(state_file) could not be written at the end; the grants themselves were made.
  returned: when writing the state file failed
  type: bool
listing:
  description:
    - How the mailboxes were found. C(mode) is V(full), V(incremental) (only those created or changed after
      C(changed_since), UTC, see O(state_file)) or V(explicit) (O(mailboxes)); C(reason) says why.
    - C(complete) is V(false) when the listing broke off (the task then fails with the listing's error, and
      RV(counts) and RV(changed_mailboxes) say what was done with the mailboxes listed before that).
  returned: when the trustee was resolved
  type: dict
  sample: {"mode": "incremental", "reason": "the state file holds a complete listing of this scope",
           "changed_since": "2026-12-04T15:20:07Z", "complete": true}
requests:
  description:
    - What the run cost against the tenant's throttling budget.
    - C(throttled_share) is C(throttled) (429 answers) divided by the cmdlet calls sent (the sum of C(by_cmdlet),
      every attempt), the part of the run's calls that pressed on a budget every admin tool of the tenant shares.
  returned: always
  type: dict
  sample: {"http_requests": 140, "batches": 120, "throttled": 3, "retries": 3, "token_renewals": 0,
           "by_cmdlet": {"Get-Mailbox": 3, "Get-MailboxPermission": 1198, "Add-MailboxPermission": 8},
           "peak_concurrency": 12, "throttled_share": 0.0025}
'''

import time

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import ExoError, explain_error
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_grants import GrantEngine
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_module import ExoModule
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_progress import ProgressFile
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_report import build_result, throttled_share
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_runner import BatchRunner
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import (
    JMESPATH_IMPORT_ERROR,
    ListingFeed,
    ListingPlan,
    Scope,
    SelectionError,
    check_address,
    check_selection,
    plan_listing,
    plan_turns_on_trustee,
    resolve_trustee,
    select_mailboxes,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_state import (
    StateFileError,
    VerifiedGrants,
    holds_listings,
)

ARGUMENT_SPEC = dict(
    user=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    mailboxes=dict(type="list", elements="str"),
    recipient_type_details=dict(type="list", elements="str"),
    filter=dict(type="str"),
    exclude=dict(type="list", elements="str", default=[]),
    query=dict(type="str"),
    auto_mapping=dict(type="bool", default=False),
    inheritance_type=dict(type="str", default="All", choices=["All", "None", "Children", "Descendents", "SelfAndChildren"]),
    recreate_existing=dict(type="bool", default=False),
    state_file=dict(type="path"),
    state_max_age=dict(type="int", default=168),
    replication_wait=dict(type="int", default=120),
    max_concurrency=dict(type="int", default=16),
    report_limit=dict(type="int", default=1000),
    progress_path=dict(type="path"),
)


def check_params(params):
    """Fail on bad input before anything is sent."""
    check_address("user", params["user"])
    check_selection(params)
    for name in ("state_max_age", "replication_wait", "report_limit"):
        if params[name] < 0:
            raise SelectionError("%s must be 0 or more" % name)


class FullAccessRun:
    """One run of the module; keeps what it has done so a failure can still report it."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.trustee = self.scope = self.runner = self.engine = self.verified = self.plan = self.listing = None

    def run(self):
        """Resolve the trustee, select the mailboxes, bring each to the desired state; returns the result."""
        params, module = self.params, self.module
        check_params(params)
        # One connection more than the batches: the listing runs beside them.
        client = module.connect(pool_size=params["max_concurrency"] + 1)
        self.scope = Scope(params["exclude"], params["query"])
        early = not plan_turns_on_trustee(params, lambda: holds_listings(params["state_file"], client.tenant_id))
        if early:
            # The listing is full whoever the trustee is: its first page goes out with the trustee
            # lookup, and no mailbox is judged (or handed on) before the lookup answered.
            self.plan = ListingPlan("explicit" if params["mailboxes"] is not None else "full", "")
            self.listing = ListingFeed().start(lambda sink: self.select(client, sink))
        try:
            self.prepare(client)
        except BaseException:
            self.scope.set_trustee(None)  # a listing waiting for the trustee ends
            raise
        if early:
            # Decided again now that the trustee is known, for its reason and the listing mark: the
            # Date of the answers to the lookup and the first page, sent together, stands for the
            # listing's start (LISTING_MARGIN covers the difference). A mark another run recorded
            # meanwhile does not make a listing that is already full incremental.
            plan = plan_listing(params, self.verified, client.server_time)
            if plan.mode == "incremental":
                plan.mode, plan.since, plan.full = "full", None, None
                plan.reason = "the listing had started before another run recorded its listing mark"
            self.plan = plan
        self.scope.set_trustee(self.trustee)
        self.runner = BatchRunner(client, max_concurrency=params["max_concurrency"])
        self.engine = GrantEngine(
            self.runner, self.trustee, state=params["state"], check_mode=module.check_mode,
            auto_mapping=params["auto_mapping"], inheritance_type=params["inheritance_type"],
            recreate=params["recreate_existing"], replication_wait=params["replication_wait"], verified=self.verified,
        )
        if self.listing is None:
            # Mailboxes are handled as the listing pages arrive (see ListingFeed).
            self.listing = ListingFeed().start(lambda sink: self.select(client, sink))
        try:
            self.engine.run(self.listing.mailboxes())
        finally:
            self.listing.stop()
        if self.listing.error is not None and self.runner.aborted is None:
            # The listing broke off: what it listed was handled (reported with the error), nothing more.
            raise self.listing.error
        result = self.result()
        if self.runner.aborted is not None:
            # The run stopped early: the reason and its fix come first, then what was done.
            result["msg"] = "%s Stopped: %s" % (explain_error(self.runner.aborted), result["msg"])
        if self.verified is not None and not module.check_mode:
            self.record_listing(client)
            try:
                self.verified.save()
            except StateFileError as exc:
                result["msg"] = "%s; but %s (the next run re-verifies these mailboxes)" % (result["msg"], exc)
                result["state_file_saved"] = False
                module.fail_json(**result)
        return result

    def prepare(self, client):
        """The trustee, the state file and (when the listing waited for them) the listing plan."""
        params = self.params
        self.trustee = resolve_trustee(client, params["user"])
        if params["state_file"]:
            self.verified = VerifiedGrants(params["state_file"], client.tenant_id, self.trustee.upn,
                                           params["state_max_age"] * 3600)
            if not self.module.check_mode:
                self.verified.check_writable()
        if self.plan is None:
            # The Date of the trustee lookup's answer: the service's time before the listing starts.
            self.plan = plan_listing(params, self.verified, client.server_time)

    def select(self, client, sink):
        """Put the mailboxes to handle into ``sink``, listed incrementally when the plan allows it (full when refused).

        Runs on the listing thread. With a ``query``, the whole listing is read before the
        first mailbox is handed over: a query that fails on some mailbox's data is bad input,
        and bad input stops the run before anything changes.
        """
        params = self.params
        streaming = params["query"] is None
        changed_since = self.plan.since if self.plan.mode == "incremental" else None
        try:
            self._list(client, sink if streaming else None, changed_since, sink)
        except ExoError as exc:
            if changed_since is None or exc.kind != "bad_request" or sink.fed:
                raise
            # The service did not take the date filter: list everything rather than guess.
            self.plan.mode, self.plan.since = "full", None
            self.plan.reason = "Exchange Online refused the date filter (%s)" % exc.message[:200]
            self.scope = Scope(params["exclude"], params["query"], self.scope.trustee)
            self._list(client, sink if streaming else None, None, sink)

    def _list(self, client, stream_to, changed_since, sink):
        mailboxes = select_mailboxes(client, self.params, self.scope, changed_since=changed_since, sink=stream_to)
        for mailbox in mailboxes or ():
            sink.put(mailbox)
        if changed_since is not None:
            # Only what changed was listed: an exclude entry that matched none of it says nothing.
            self.scope.unmatched_excludes.clear()

    def record_listing(self, client):
        """Record the listing mark when every listed mailbox was handled; a revoke drops the marks."""
        if self.params["state"] == "absent":
            self.verified.revoke_listings(client.server_time or time.time())
            return
        report = self.engine.report
        mark = self.plan.mark()
        # A mailbox that failed was listed because it changed after the old mark: keeping the
        # old mark lists it again next time.
        if mark is not None and self.listing.complete and self.runner.aborted is None and not report.failed:
            self.verified.mark_listing(self.plan.scope, *mark)

    def result(self):
        """The result so far (complete after run())."""
        result = build_result(self.params, self.trustee, self.scope, self.engine.report, self.runner, self.module.client,
                              check_mode=self.module.check_mode, diff=self.module._diff)
        result["listing"] = self.plan.as_result()
        result["listing"]["complete"] = self.listing is not None and self.listing.complete
        return result

    def progress(self):
        """A snapshot of the counts so far, for the progress file (read from another thread: counters only)."""
        scope, engine, client = self.scope, self.engine, self.module.client
        listing = self.listing
        snapshot = {"phase": "starting" if listing is None else "granting" if listing.finished else "listing",
                    "listed": scope.listed if scope is not None else 0,
                    "selected": scope.listed - scope.excluded if scope is not None else 0}
        if engine is not None:
            report = engine.report
            snapshot.update(unchanged=report.unchanged, changed=len(report.changed), failed=len(report.failed))
        if client is not None:
            requests = client.stats.as_dict()
            snapshot.update(throttled=requests["throttled"], throttled_share=throttled_share(requests))
        return snapshot

    def partial(self):
        """What a run that stopped early had done: counts and mailboxes changed, if it got that far."""
        if self.engine is None:
            return {}
        result = self.result()
        report = self.engine.report
        result["counts"]["not_processed"] = result["counts"]["selected"] - report.unchanged - len(report.changed) \
            - len(report.failed)
        if self.verified is not None and not self.module.check_mode:
            try:
                self.verified.save()  # keep what was verified before the stop
            except StateFileError:
                result["state_file_saved"] = False
        return result


def run_module():
    """Parse options, check them, grant, report."""
    module = ExoModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("mailboxes", "filter"), ("mailboxes", "recipient_type_details")],
    )
    if module.params["query"] is not None:
        module.require_library("jmespath", JMESPATH_IMPORT_ERROR, "query")
    run = FullAccessRun(module)
    progress = ProgressFile(module.params["progress_path"], run.progress).start() if module.params["progress_path"] else None
    try:
        result = module.run_guarded(run.run, partial_result=run.partial)
    finally:
        if progress is not None:
            progress.stop()
    if result["failed_mailboxes"]:
        module.fail_json(**result)
    module.exit_json(**result)


def main():
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
