#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: o365_app_mailbox_access
short_description: Give an Entra app scoped mailbox access with RBAC for Applications in Exchange Online
version_added: 1.0.0
description:
  - Makes sure an Entra app (by Application (client) ID) holds Exchange Online application roles, by default
    C(Application EWS.AccessAsApp), for the mailboxes of a management scope, an administrative unit, or the whole
    organisation. This is the scoped alternative to consenting C(full_access_as_app) in Entra ID, which reaches every
    mailbox. The two add up, so for scoped access the Entra consent must not be granted.
  - After EWS. EWS in Exchange Online ends on 1 April 2027. Microsoft's replacement for full mailbox access is the
    Microsoft Graph mailbox import/export API, which RBAC for Applications scopes with roles such as
    C(Application MailboxFolder.ReadWrite), C(Application MailboxItem.ImportExport), C(Application Mail.ReadWrite) and
    C(Application Calendars.ReadWrite). O(roles) takes several roles for one scope; each must exist before anything
    changes.
  - Creates, as needed, a management scope with a recipient filter (C(New-ManagementScope)), the service principal
    pointer (C(New-ServicePrincipal)), and one role assignment per role (C(New-ManagementRoleAssignment -App -Role
    -CustomResourceScope) or C(-RecipientAdministrativeUnitScope)). O(state=absent) removes what the module owns.
  - Shared tenants. Every decision is taken on complete listings of the tenant's pointers and role assignments. An
    assignment is the module's when Exchange lists it for the app's pointer (C(Get-ManagementRoleAssignment
    -RoleAssignee) with the pointer's GUID, never by display name) and its name is O(assignment_name) or that name plus C(-b). The management scope
    O(scope_name) is changed or removed only while no other role assignment references it, app assignments
    (C(CustomResourceScope)) and admin role assignments (C(CustomRecipientWriteScope), C(ExclusiveRecipientWriteScope))
    alike; otherwise the module fails before any change, naming who uses it. The pointer is removed only when it has no
    assignment left and its display name is O(display_name). Other apps' objects, and other assignments of this app, are
    never changed; other assignments of this app for the same roles are reported, because grants add up.
  - Make before break. An assignment cannot be moved to another scope in place, so the new one is created (under the
    other of its two names) before the old one is removed; the app never loses access in between.
  - The recipient filter is checked by Exchange (C(Get-Recipient -RecipientPreviewFilter)) before the first write.
    An ambiguous answer to a write (a dropped connection, a re-sent request, "already exists" or "not found" after a
    retry, a warning) is settled by reading the object back. RV(changed) is true as soon as a write may have been
    applied, also when a later step fails, and RV(actions) lists the writes made.
  - C(-App) is documented as taking the pointer's ObjectId in one place and its ServiceId in another, so the module
    looks the pointer up with C(Get-ServicePrincipal) and passes the GUID Exchange returns (ServiceId, else ObjectId).
  - With O(verify_in_scope) and O(verify_out_of_scope), checks the result with C(Test-ServicePrincipalAuthorization) and
    fails if a mailbox is not where it should be. That cmdlet reads the assignments directly, bypassing the cache that
    RBAC for Applications keeps for 30 minutes to 2 hours, so a pass is not yet live access.
  - The Entra app registration, its client secret or certificate, and any admin consent stay manual steps (see the
    collection README).
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
    description: Reads the tenant and reports the writes it would make in RV(actions); sends none. Verification needs the
      assignment, so it is skipped while the assignment does not exist yet.
  diff_mode:
    support: full
    description: Shows the pointer, scope and role assignment before and after.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (with C(delegate_to) V(localhost)), not on a Windows host.
options:
  app_id:
    description:
      - Application (client) ID of the Entra app that needs mailbox access (MSE's Client ID).
    type: str
    required: true
  service_principal_object_id:
    description:
      - Object ID of the app's service principal in Entra ID (Enterprise applications, the app, Object ID; not the app
        registration's Object ID). Needed only when Exchange Online has no pointer for the app yet.
    type: str
  display_name:
    description:
      - Display name of the pointer the module creates; with O(state=absent) the pointer is removed only if its display
        name is this one.
    type: str
    default: Mimecast Synchronization Engine
  roles:
    description:
      - The application roles to assign, all for the same scope. Their names start with C(Application ), for example
        C(Application EWS.AccessAsApp) (EWS) or, for the Microsoft Graph mailbox import/export API that replaces EWS,
        C(Application MailboxFolder.ReadWrite) and C(Application MailboxItem.ImportExport).
      - With O(state=absent), the assignments of these roles are removed.
      - Roles no longer listed are not removed by O(state=present); they are reported in RV(other_assignments). Remove
        them with O(state=absent) and those roles.
    type: list
    elements: str
    aliases: [role]
    default: [Application EWS.AccessAsApp]
  recipient_filter:
    description:
      - An OPATH recipient filter for the management scope, for example V(CustomAttribute1 -eq 'MSE'). The app reaches the
        mailboxes that match it.
      - Mutually exclusive with O(admin_unit). Without either, the roles apply to every mailbox of the organisation; an
        assignment of this module that was scoped is then widened, with a warning. The role
        C(mimecast_mse.sync_engine.service_account) refuses that for its C(app_rbac) model.
    type: str
  scope_name:
    description:
      - Name of the management scope for O(recipient_filter). Defaults to C(MSE-<app_id>). A scope of that name that
        another role assignment uses is never changed; choose a name of this app's own.
    type: str
  admin_unit:
    description:
      - Object ID (GUID) of an Entra administrative unit whose members the app reaches, instead of O(recipient_filter).
    type: str
  assignment_name:
    description:
      - Name of the role assignment, at most 62 characters (a moved assignment takes this name plus C(-b), within
        Exchange's 64). Defaults to the role without C(Application ) plus the app ID, for example
        C(EWS.AccessAsApp-<app_id>). Only with a single role in O(roles).
    type: str
  state:
    description:
      - V(present) creates or corrects the pointer, scope and assignment; V(absent) removes the assignment, then the
        scope and the pointer if nothing else uses them.
    type: str
    default: present
    choices: [present, absent]
  verify_in_scope:
    description:
      - Mailboxes (UPN, SMTP address or GUID) the app must reach; checked with C(Test-ServicePrincipalAuthorization).
      - They must exist; the module fails before any change if one does not.
    type: list
    elements: str
    default: []
  verify_out_of_scope:
    description:
      - Mailboxes the app must not reach through O(role).
    type: list
    elements: str
    default: []
notes:
  - The app that runs this module needs C(Exchange.ManageAsApp), the Entra role C(Exchange Administrator), and in
    Exchange the C(Role Management) role (part of Organization Management), which New-ManagementRoleAssignment needs
    (Microsoft365DSC's EXOManagementRoleAssignment lists Role Management too).
  - Microsoft notes that Autodiscover cannot be used with RBAC application roles; set MSE's Host Address so it does not
    depend on Autodiscover.
seealso:
  - name: Role Based Access Control for Applications in Exchange Online
    description: The procedure this module automates.
    link: https://learn.microsoft.com/exchange/permissions-exo/application-rbac
  - name: New-ManagementRoleAssignment
    description: The -App parameter.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/new-managementroleassignment
  - module: mimecast_mse.sync_engine.o365_ews_access
'''

EXAMPLES = r'''
- name: MSE may use EWS on the mailboxes tagged for it, and nowhere else
  mimecast_mse.sync_engine.o365_app_mailbox_access:
    app_id: "{{ mse_app_client_id }}"
    service_principal_object_id: "{{ mse_app_enterprise_object_id }}"
    recipient_filter: "CustomAttribute1 -eq 'MSE'"
    verify_in_scope: [alex.wilber@contoso.com]
    verify_out_of_scope: [ceo@contoso.com]
  delegate_to: localhost
  run_once: true

- name: Scope by an Entra administrative unit instead
  mimecast_mse.sync_engine.o365_app_mailbox_access:
    app_id: "{{ mse_app_client_id }}"
    service_principal_object_id: "{{ mse_app_enterprise_object_id }}"
    admin_unit: 4d819ce9-9257-44e2-9d3d-7d0b4f4b1c11
  delegate_to: localhost
  run_once: true

- name: Ready for after EWS - the Graph mailbox import/export roles on the same scope
  mimecast_mse.sync_engine.o365_app_mailbox_access:
    app_id: "{{ mse_app_client_id }}"
    service_principal_object_id: "{{ mse_app_enterprise_object_id }}"
    recipient_filter: "CustomAttribute1 -eq 'MSE'"
    roles:
      - Application EWS.AccessAsApp
      - Application MailboxFolder.ReadWrite
      - Application MailboxItem.ImportExport
  delegate_to: localhost
  run_once: true

- name: Decommission - remove the assignment, the scope and the pointer this module made
  mimecast_mse.sync_engine.o365_app_mailbox_access:
    app_id: "{{ mse_app_client_id }}"
    state: absent
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
actions:
  description: The writes made and confirmed, in order (in check mode, the writes that would be made); also in a failed
    result.
  returned: always
  type: list
  elements: str
  sample: ["create the service principal pointer for app 933cd1fb-b19e-593d-bb75-a749a8395603",
           "create management scope MSE-933cd1fb-b19e-593d-bb75-a749a8395603"]
service_principal:
  description: The app's pointer after the run (null when there is none); C(identity) is what C(-App) was given.
  returned: when the tenant was read
  type: dict
  sample: {"app_id": "933cd1fb-b19e-593d-bb75-a749a8395603", "identity": "2ad4dac8-3532-5d08-9f81-471fe5aed19e",
           "display_name": "Mimecast Synchronization Engine"}
assignments:
  description: The module's role assignments after the run, one per role of O(roles) (empty with O(state=absent)).
  returned: when the tenant was read
  type: list
  elements: dict
  sample: [{"name": "EWS.AccessAsApp-933cd1fb-b19e-593d-bb75-a749a8395603", "role": "Application EWS.AccessAsApp",
            "scope_type": "scope", "scope": "MSE-933cd1fb-b19e-593d-bb75-a749a8395603"}]
other_assignments:
  description: Other role assignments of the app for the same role, which the module leaves alone (grants add up).
  returned: when the tenant was read
  type: list
  elements: dict
  sample: []
verification:
  description: One row per mailbox of O(verify_in_scope) and O(verify_out_of_scope) and role of O(roles).
  returned: when verification ran
  type: list
  elements: dict
  sample: [{"mailbox": "alex.wilber@contoso.com", "role": "Application EWS.AccessAsApp", "expected_in_scope": true,
            "in_scope": true, "ok": true}]
requests:
  description: What the run cost against the tenant's throttling budget.
  returned: always
  type: dict
  sample: {"http_requests": 7, "batches": 0, "throttled": 0, "retries": 0, "token_renewals": 0,
           "by_cmdlet": {"Get-ServicePrincipal": 1, "New-ManagementRoleAssignment": 1}}
'''

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_app_rbac import (
    DEFAULT_DISPLAY_NAME,
    DEFAULT_ROLE,
    RbacPlan,
    VerificationFailed,
    Wanted,
    apply_steps,
    summarize_assignment,
    summarize_pointer,
    verify,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_module import ExoModule
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_writes import Progress

# What a refused cmdlet's message asks for (ExoModule's role_hint).
RBAC_ROLES = ("the Entra role 'Exchange Administrator' and, in Exchange, the 'Role Management' role (part of "
              "Organization Management) that New-ServicePrincipal, New-ManagementScope and "
              "New-ManagementRoleAssignment need")
ARGUMENT_SPEC = dict(
    app_id=dict(type="str", required=True),
    service_principal_object_id=dict(type="str"),
    display_name=dict(type="str", default=DEFAULT_DISPLAY_NAME),
    roles=dict(type="list", elements="str", default=[DEFAULT_ROLE], aliases=["role"]),
    recipient_filter=dict(type="str"),
    scope_name=dict(type="str"),
    admin_unit=dict(type="str"),
    assignment_name=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    verify_in_scope=dict(type="list", elements="str", default=[]),
    verify_out_of_scope=dict(type="list", elements="str", default=[]),
)


class AccessRun:
    """Plan, apply (unless check mode), verify; ``result`` says what was done even when a step fails."""

    def __init__(self, module, wanted):
        self.module = module
        self.wanted = wanted
        self.progress = Progress()
        self.result = {"changed": False, "actions": self.progress.actions}
        self.before = self.after = None

    def partial_result(self):
        """What a failed run reports: the writes confirmed, and changed=true once one may have landed."""
        return dict(self.result, changed=self.progress.changed)

    def run(self):
        """The whole run; returns the result."""
        client = self.module.connect()
        params = self.module.params
        samples = list(params["verify_in_scope"]) + list(params["verify_out_of_scope"])
        plan = RbacPlan(client, self.wanted).build(samples if params["state"] == "present" else ())
        self.before = self.snapshot(plan.pointer, plan.our_records, plan.scope)
        for warning in plan.warnings:
            self.module.warn(warning)
        self.result["other_assignments"] = [summarize_assignment(record) for record in plan.others]
        if self.module.check_mode:
            self.progress.actions.extend(step.what for step in plan.steps)
            pointer = plan.pointer
        else:
            pointer = apply_steps(client, plan, self.progress)
        self.result["changed"] = self.progress.changed
        self.describe_after(plan, pointer)
        if params["state"] == "present" and samples:
            self.verify(client, plan, pointer)
        self.result["requests"] = self.module.requests_made()
        return self.result

    @staticmethod
    def snapshot(pointer, assignments, scope):
        """Pointer, scope and assignments as the diff shows them."""
        return {"service_principal": summarize_pointer(pointer),
                "assignments": sorted((summarize_assignment(record) for record in assignments), key=lambda item: item["name"]),
                "scope": {"name": scope.get("Name"), "recipient_filter": scope.get("RecipientFilter")} if scope else None}

    def describe_after(self, plan, pointer):
        """What the tenant holds after the run (or would, in check mode)."""
        wanted, present = self.wanted, self.wanted.state == "present"
        done = {step.cmdlet for step in plan.steps}
        if not present and "Remove-ServicePrincipal" in done:
            pointer = None
        assignments = []
        if present:
            scope_type, scope_value = wanted.scope_key
            scope = {"scope": wanted.scope_name, "admin_unit": scope_value, "organization": "Organization"}[scope_type]
            for role in wanted.roles:
                kept = plan.kept.get(role.lower())
                name = kept.get("Name") if kept else next(step.parameters["Name"] for step in plan.steps
                                                          if step.cmdlet == "New-ManagementRoleAssignment"
                                                          and step.parameters["Role"] == role)
                assignments.append({"name": name, "role": role, "scope_type": scope_type, "scope": scope})
        scope = plan.scope
        if present and wanted.recipient_filter:
            scope = {"Name": wanted.scope_name, "RecipientFilter": wanted.recipient_filter}
        elif "Remove-ManagementScope" in done:
            scope = None
        self.after = self.snapshot(pointer, [], scope)
        self.after["assignments"] = sorted(assignments, key=lambda item: item["name"])
        if pointer is None and present:
            self.after["service_principal"] = {"app_id": wanted.app_id, "identity": None, "display_name": wanted.display_name}
        self.result.update(service_principal=self.after["service_principal"], assignments=assignments)

    def verify(self, client, plan, pointer):
        """Test-ServicePrincipalAuthorization for the sample mailboxes (skipped while nothing is assigned yet)."""
        params = self.module.params
        if self.module.check_mode and plan.steps:
            self.module.warn("verification skipped in check mode: the role assignments are not in place yet.")
            return
        try:
            self.result["verification"] = verify(client, pointer, self.wanted.roles, params["verify_in_scope"],
                                                 params["verify_out_of_scope"])
        except VerificationFailed as exc:
            self.result["verification_failed"] = str(exc)
            raise

    def diff(self):
        """Before/after for diff mode."""
        return {"before": self.before or {}, "after": self.after or {}}


def run_module():
    """Parse options, check them, converge, report."""
    module = ExoModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("recipient_filter", "admin_unit")],
                       role_hint=RBAC_ROLES)
    params = module.params
    wanted = module.run_guarded(lambda: Wanted(params))
    run = AccessRun(module, wanted)
    result = module.run_guarded(run.run, partial_result=run.partial_result)
    if module._diff:
        result["diff"] = run.diff()
    module.exit_json(**result)


def main():
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
