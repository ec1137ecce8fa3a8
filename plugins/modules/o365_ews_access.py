#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: o365_ews_access
short_description: Let an app through the Exchange Online EWS access policy (EwsEnabled and EwsAllowedAppIDs)
version_added: 1.0.0
description:
  - Makes sure the organisation's EWS policy lets the given Entra apps (by Application (client) ID) use Exchange Web
    Services, as a current Mimecast Synchronization Engine that signs in with OAuth needs.
  - With O(state=present), sets C(EwsEnabled) to true and adds the app IDs to C(EwsAllowedAppIDs); entries of other apps
    stay as they are. With O(state=absent), removes only these app IDs from the list and never changes C(EwsEnabled).
  - C(EwsAllowedAppIDs) is a comma-separated string that replaces the whole list when set, and other apps and admins
    write it too. The module reads the list (C(Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy); as one string
    or as array elements that may hold comma-joined IDs) and compares it as a set of GUIDs. To change it, it reads the
    list again just before C(Set-OrganizationConfig), writes the full new list with C(EwsEnabled), and reads it back,
    checking its own entries and C(EwsEnabled) (not equality, since another writer may have added theirs). After
    O(recheck_delay) it checks once more, because an update lost to a concurrent writer shows only then, and fails
    naming it. Entries of other apps that disappear between its reads are named in a warning.
  - Runs on one control node take a lock per tenant (a 0600 file in the temporary directory). Runs from several control
    nodes, AWX jobs and other tools that write C(EwsAllowedAppIDs) must be serialised by you, for example one AWX job
    template with concurrent jobs disabled, or one play with C(run_once) per tenant.
  - Never narrows EWS silently. With C(EwsEnabled) not configured, or true with an empty list, every app may use EWS;
    turning that into "only the listed apps" fails before any change unless O(restrict_to_listed_apps) confirms it. An
    app that the policy blocks gets HTTP 403 with C(X-EWS-Policy-Reason) V(EWS is blocked by policy for this user or
    tenant) (not in the list, or refused by a user-agent list), or V(EWS is disabled for this user or tenant)
    (C(EwsEnabled) false for the organisation or the mailbox). The reverse, O(state=absent) removing the last entry
    while C(EwsEnabled) is true (which lets every app use EWS), needs O(allow_every_app).
  - An ambiguous answer to a write (a dropped connection, a re-sent request, a warning) is settled by reading back.
    The result's C(changed) is true as soon as a write may have been applied, also in a failed result.
  - Exchange Online can take up to 24 hours to apply a change; the module warns when it made one.
  - Optionally lists the mailboxes in scope whose own C(EwsEnabled) (C(Get-CASMailbox)) is false, which stay closed to
    EWS whatever the organisation allows, and with O(fix_mailboxes) turns it on (C(Set-CASMailbox -EwsEnabled $true)).
    Mailboxes are chosen with the same options as M(mimecast_mse.sync_engine.o365_mailbox_fullaccess).
  - EWS in Exchange Online ends on 1 April 2027; after that neither this policy nor the access it grants has any effect.
  - The app also needs mailbox access, which this module does not give. Either consent C(full_access_as_app) (Office 365
    Exchange Online, application permission) in Entra ID for every mailbox, a manual step, or scope it with
    M(mimecast_mse.sync_engine.o365_app_mailbox_access).
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
    description: Reads the policy (and the mailboxes) and reports what would change; sends no Set cmdlet.
  diff_mode:
    support: full
    description: Shows the policy before and after, and the mailboxes whose EWS switch is (or would be) turned on.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (with C(delegate_to) V(localhost)), not on a Windows host.
options:
  app_ids:
    description:
      - Application (client) IDs, as GUIDs, of the Entra apps that must be able to use EWS, for example the app whose
        Client ID is typed into MSE's Site Configure (Accounts, OAuth).
      - The module fails before any change if one is not a GUID.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) lists the apps and sets C(EwsEnabled) to true; V(absent) removes only these apps from the list.
    type: str
    default: present
    choices: [present, absent]
  restrict_to_listed_apps:
    description:
      - Confirms that the policy may go from "every app may use EWS" (C(EwsEnabled) not configured, or true with an empty
        list) to "only the apps in C(EwsAllowedAppIDs)". Without it, that change fails before anything is written, naming
        the consequence. List every app that still needs EWS in O(app_ids) first.
    type: bool
    default: false
  allow_every_app:
    description:
      - Confirms that O(state=absent) may remove the last entry of C(EwsAllowedAppIDs) while C(EwsEnabled) is true. An
        empty list means no restriction by app ID, so every app may then use EWS. Without it, that change fails before
        anything is written. To block EWS for every app instead, set C(EwsEnabled) to false yourself.
    type: bool
    default: false
  recheck_delay:
    description:
      - Seconds to wait after a write before checking the list once more for an update lost to a concurrent writer.
        V(0) skips that check. At most 600.
    type: float
    default: 10
  check_mailboxes:
    description:
      - Also report the mailboxes in scope whose own C(EwsEnabled) is false.
    type: bool
    default: false
  fix_mailboxes:
    description:
      - Turn C(EwsEnabled) on for the mailboxes in scope where it is false. Implies O(check_mailboxes).
      - Only with O(state=present).
    type: bool
    default: false
  mailboxes:
    description:
      - Only these mailboxes (UPN, SMTP address, alias or GUID) for O(check_mailboxes); all must exist.
      - Mutually exclusive with O(filter) and O(recipient_type_details).
    type: list
    elements: str
  recipient_type_details:
    description:
      - Only mailboxes of these types, for example V(UserMailbox), V(SharedMailbox). Evaluated by Exchange Online.
    type: list
    elements: str
  filter:
    description:
      - An OPATH filter for C(Get-Mailbox -Filter), for example V(Department -eq 'Sales').
    type: str
  exclude:
    description:
      - Mailboxes never checked or changed, by UPN, SMTP address, alias or GUID, in any case.
    type: list
    elements: str
    default: []
  query:
    description:
      - A JMESPath expression evaluated on each C(Get-Mailbox) record; mailboxes for which it is false are left out.
    type: str
  max_concurrency:
    description:
      - Upper bound of C($batch) requests in flight at once when mailboxes are checked or changed one by one.
    type: int
    default: 16
  report_limit:
    description:
      - At most this many mailboxes are listed in RV(mailboxes) and the diff; counts are complete. V(0) means no limit.
    type: int
    default: 1000
notes:
  - The app that runs this module needs C(Exchange.ManageAsApp) and the Entra role C(Exchange Administrator) (the
    organisation settings are not open to C(Exchange Recipient Administrator)).
  - Mailbox selection options only count with O(check_mailboxes) or O(fix_mailboxes); given without them they are an error.
seealso:
  - name: Set-OrganizationConfig
    description: EwsEnabled and EwsAllowedAppIDs.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/set-organizationconfig
  - name: Set-CASMailbox
    description: The mailbox-level EwsEnabled.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/set-casmailbox
  - module: mimecast_mse.sync_engine.o365_app_mailbox_access
'''

EXAMPLES = r'''
- name: Let the MSE app use EWS (client secret from AWX's Azure credential)
  mimecast_mse.sync_engine.o365_ews_access:
    app_ids:
      - "{{ mse_app_client_id }}"
  delegate_to: localhost
  run_once: true

- name: Same, and turn EWS on for the mailboxes MSE processes where someone switched it off
  mimecast_mse.sync_engine.o365_ews_access:
    app_ids: ["{{ mse_app_client_id }}"]
    fix_mailboxes: true
    recipient_type_details: [UserMailbox, SharedMailbox]
  delegate_to: localhost
  run_once: true

- name: Decommission - take the MSE app off the allow list (other apps and EwsEnabled stay)
  mimecast_mse.sync_engine.o365_ews_access:
    app_ids: ["{{ mse_app_client_id }}"]
    state: absent
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
actions:
  description: The writes made and confirmed (also in a failed result).
  returned: always
  type: list
  elements: str
  sample: ["Set-OrganizationConfig EwsAllowedAppIDs=c4e0403c-7f83-5f8c-a789-3e79d99b1da2,933cd1fb-b19e-593d-bb75-a749a8395603"]
policy:
  description: The EWS policy after the run (in check mode, what it would be).
  returned: when the policy was read
  type: dict
  sample: {"ews_enabled": true, "ews_allowed_app_ids": ["c4e0403c-7f83-5f8c-a789-3e79d99b1da2", "933cd1fb-b19e-593d-bb75-a749a8395603"]}
policy_before:
  description: The EWS policy as read before any change.
  returned: when the policy was read
  type: dict
  sample: {"ews_enabled": true, "ews_allowed_app_ids": ["c4e0403c-7f83-5f8c-a789-3e79d99b1da2"]}
apps:
  description:
    - For each app ID in O(app_ids), whether the policy lets it use EWS; V(null) when C(EwsEnabled) is not configured.
    - Mailbox access (C(full_access_as_app) or an RBAC role) and the mailbox-level switch are not part of this.
  returned: when the policy was read
  type: dict
  sample: {"933cd1fb-b19e-593d-bb75-a749a8395603": true}
mailboxes:
  description:
    - With O(check_mailboxes) or O(fix_mailboxes), the mailboxes in scope whose own C(EwsEnabled) was false.
    - C(blocked) and C(fixed) are primary SMTP addresses, at most O(report_limit) of each; C(failed) is never shortened.
  returned: when mailboxes were checked
  type: dict
  sample: {"selected": 250, "blocked_count": 2, "blocked": ["room12@contoso.com", "a.b@contoso.com"],
           "fixed": ["room12@contoso.com", "a.b@contoso.com"], "failed": [], "truncated": false}
requests:
  description: What the run cost against the tenant's throttling budget.
  returned: always
  type: dict
  sample: {"http_requests": 5, "batches": 1, "throttled": 0, "retries": 0, "token_renewals": 0,
           "by_cmdlet": {"Get-OrganizationConfig": 4, "Set-OrganizationConfig": 1}}
'''

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_mailboxes import (
    enable_ews,
    find_blocked,
    select_mailboxes,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_ews_policy import (
    PROPAGATION_WARNING,
    EwsPolicyError,
    PolicyWriter,
    check_app_ids,
    desired_policy,
    effective_access,
    check_change,
    policy_warnings,
    read_policy,
    tenant_lock,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_module import ExoModule
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_report import limited
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_selection import JMESPATH_IMPORT_ERROR, check_selection
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import Progress

SELECTION_OPTIONS = ("mailboxes", "recipient_type_details", "filter", "query")
# What a refused cmdlet's message asks for (ExoModule's role_hint).
ORG_ROLES = ("the Entra role 'Exchange Administrator' (it brings the Exchange role group Organization Management, "
             "which holds the Organization Configuration role that Set-OrganizationConfig and Set-CASMailbox need)")
ARGUMENT_SPEC = dict(
    app_ids=dict(type="list", elements="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    restrict_to_listed_apps=dict(type="bool", default=False),
    allow_every_app=dict(type="bool", default=False),
    recheck_delay=dict(type="float", default=10.0),
    check_mailboxes=dict(type="bool", default=False),
    fix_mailboxes=dict(type="bool", default=False),
    mailboxes=dict(type="list", elements="str"),
    recipient_type_details=dict(type="list", elements="str"),
    filter=dict(type="str"),
    exclude=dict(type="list", elements="str", default=[]),
    query=dict(type="str"),
    max_concurrency=dict(type="int", default=16),
    report_limit=dict(type="int", default=1000),
)


def check_params(params):
    """Fail on bad input before anything is sent; returns the app IDs as canonical GUIDs."""
    app_ids = check_app_ids("app_ids", params["app_ids"])
    if params["fix_mailboxes"] and params["state"] != "present":
        raise EwsPolicyError("fix_mailboxes turns EWS on for mailboxes, which only fits state=present. Fix: drop "
                             "fix_mailboxes, or use state=present.")
    checking = params["check_mailboxes"] or params["fix_mailboxes"]
    given = [name for name in SELECTION_OPTIONS if params[name] is not None] + (["exclude"] if params["exclude"] else [])
    if given and not checking:
        raise EwsPolicyError("%s only choose mailboxes for check_mailboxes or fix_mailboxes. Fix: set check_mailboxes: true "
                             "(report) or fix_mailboxes: true (turn EWS on), or drop them." % ", ".join(given))
    check_selection(params)
    if params["report_limit"] < 0:
        raise EwsPolicyError("report_limit must be 0 or more")
    if not 0 <= params["recheck_delay"] <= 600:
        raise EwsPolicyError("recheck_delay must be 0 to 600 seconds, not %s." % params["recheck_delay"])
    return app_ids


class EwsAccessRun:
    """One run: the policy first, then (optionally) the mailboxes; ``result`` grows as work is done."""

    def __init__(self, module, app_ids):
        self.module = module
        self.params = module.params
        self.app_ids = app_ids
        self.client = None
        self.progress = Progress()
        self.fixed = []  # mailboxes whose EWS switch this run turned on, filled as they are confirmed
        self.result = {"changed": False, "actions": self.progress.actions}
        self.mailbox_diff = None

    def partial_result(self):
        """What a failed run reports: the writes confirmed, and changed=true once one may have landed."""
        result = dict(self.result, changed=self.result["changed"] or self.progress.changed or bool(self.fixed))
        if self.fixed and "mailboxes" not in result:
            result["mailboxes"] = {"fixed": limited(sorted(mailbox.address for mailbox in self.fixed),
                                                    self.params["report_limit"])[0]}
        return result

    def run(self):
        """Connect, converge the policy, check or fix mailboxes; returns the result."""
        self.client = self.module.connect(pool_size=self.params["max_concurrency"])
        selection = None
        if self.params["check_mailboxes"] or self.params["fix_mailboxes"]:
            # Selecting reads only; done first so that a mailbox that does not exist stops the run unchanged.
            selection = select_mailboxes(self.client, self.params)
        self.converge_policy()
        if selection is not None:
            self.check_mailboxes(*selection)
        self.result["requests"] = self.module.requests_made()
        return self.result

    def converge_policy(self):
        """Read, compute, and unless in check mode write under the tenant lock (see PolicyWriter)."""
        before = read_policy(self.client)
        desired = desired_policy(before, self.app_ids, self.params["state"])
        changed = desired != before
        confirmed = {"restrict_to_listed_apps": self.params["restrict_to_listed_apps"],
                     "allow_every_app": self.params["allow_every_app"]}
        if changed:
            check_change(before, desired, **confirmed)
        after = desired
        if changed and not self.module.check_mode:
            writer = PolicyWriter(self.client, self.app_ids, self.params["state"], self.progress,
                                  recheck_seconds=self.params["recheck_delay"])
            try:
                with tenant_lock(self.client.tenant_id):
                    after = writer.write(before, confirmed)
            finally:
                for warning in writer.warnings:
                    self.module.warn(warning)
            changed = self.progress.changed
        self.result.update(changed=changed, policy_before=before.as_dict(), policy=after.as_dict(),
                           apps=effective_access(after, self.app_ids))
        if changed:
            for warning in [PROPAGATION_WARNING] + policy_warnings(before, after, self.app_ids):
                self.module.warn(warning)
        self.result["msg"] = "EWS policy %s" % (("would change" if self.module.check_mode else "changed") if changed
                                                else "already right")

    def check_mailboxes(self, mailboxes, scope):
        """Find the selected mailboxes whose own EWS switch is off; turn it on with fix_mailboxes."""
        params, limit = self.params, self.params["report_limit"]
        blocked, failed = find_blocked(self.client, params, mailboxes)
        blocked.sort(key=lambda mailbox: mailbox.address.lower())
        fixed = []
        if params["fix_mailboxes"] and blocked:
            if self.module.check_mode:
                fixed = list(blocked)
            else:
                fixed, set_failed = enable_ews(self.client, blocked, params["max_concurrency"], self.fixed)
                failed.extend(set_failed)
            fixed.sort(key=lambda mailbox: mailbox.address.lower())
        shown_blocked, cut_blocked = limited([mailbox.address for mailbox in blocked], limit)
        shown_fixed, cut_fixed = limited([mailbox.address for mailbox in fixed], limit)
        self.result["mailboxes"] = {"selected": scope.listed - scope.excluded, "blocked_count": len(blocked),
                                    "blocked": shown_blocked, "fixed": shown_fixed, "failed": failed,
                                    "truncated": cut_blocked or cut_fixed}
        self.result["changed"] = self.result["changed"] or bool(fixed)
        verb = "would be turned on" if self.module.check_mode else "turned on"
        self.result["msg"] += "; %d of %d mailboxes in scope have EWS switched off%s" % (
            len(blocked), scope.listed - scope.excluded, ", %d %s" % (len(fixed), verb) if params["fix_mailboxes"] else "")
        if failed:
            self.result["msg"] += "; %d failed, first: %s: %s" % (len(failed), failed[0]["mailbox"], failed[0]["reason"])
        fixed_names = {mailbox.address for mailbox in fixed}
        self.mailbox_diff = (shown_blocked, [address for address in shown_blocked if address not in fixed_names])

    def diff(self):
        """Before/after of the policy and of the mailboxes whose EWS switch is off."""
        before = dict(self.result.get("policy_before") or {})
        after = dict(self.result.get("policy") or {})
        if self.mailbox_diff is not None:
            before["mailboxes_with_ews_off"], after["mailboxes_with_ews_off"] = self.mailbox_diff
        return {"before": before, "after": after}


def run_module():
    """Parse options, check them, converge, report."""
    module = ExoModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("mailboxes", "filter"), ("mailboxes", "recipient_type_details")],
        role_hint=ORG_ROLES,
    )
    if module.params["query"]:
        module.require_library("jmespath", JMESPATH_IMPORT_ERROR, "query")
    app_ids = module.run_guarded(lambda: check_params(module.params))
    run = EwsAccessRun(module, app_ids)
    result = module.run_guarded(run.run, partial_result=run.partial_result)
    if module._diff:
        result["diff"] = run.diff()
    if result.get("mailboxes", {}).get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


def main():
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
