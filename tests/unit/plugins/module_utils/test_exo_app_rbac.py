"""RBAC for Applications planning: what the module owns, which -App value it passes, what it verifies."""
from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_app_rbac import (
    APP,
    RbacError,
    RbacPlan,
    VerificationFailed,
    Wanted,
    app_parameter,
    apply_steps,
    assignment_scope,
    verify,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import CmdletResult, ExoError

APP_ID = "933cd1fb-b19e-593d-bb75-a749a8395603"
OBJECT_ID = "2ad4dac8-3532-5d08-9f81-471fe5aed19e"
SERVICE_ID = "5a2b7c1e-0000-4000-8000-00000000aaaa"
OTHER_APP = "c4e0403c-7f83-5f8c-a789-3e79d99b1da2"
ROLE = "Application EWS.AccessAsApp"
OURS = "EWS.AccessAsApp-" + APP_ID
ROLES = (ROLE, "Application Mail.Read", "Application MailboxSettings.ReadWrite", "Mail Recipients")


def params(**changes):
    values = {"app_id": APP_ID, "service_principal_object_id": OBJECT_ID, "display_name": "Mimecast Synchronization Engine",
              "role": ROLE, "recipient_filter": "Department -eq 'Sales'", "scope_name": None, "admin_unit": None,
              "assignment_name": None, "state": "present"}
    values.update(changes)
    return values


class FakeTenant:
    """Just enough of the RBAC cmdlets: records, not-found errors, and every call made."""

    def __init__(self, pointers=(), scopes=(), assignments=()):
        self.pointers = list(pointers)
        self.scopes = {scope["Name"].lower(): scope for scope in scopes}
        self.assignments = list(assignments)
        self.calls = []

    def invoke(self, cmdlet, parameters):
        self.calls.append((cmdlet, dict(parameters)))
        identity = str(parameters.get("Identity", "")).lower()
        if cmdlet == "Get-ServicePrincipal":
            return CmdletResult(list(self.pointers), [])
        if cmdlet == "Get-ManagementScope":
            return self._found(self.scopes.get(identity), identity)
        if cmdlet == "Get-ManagementRoleAssignment":
            if "Identity" in parameters:
                return self._found(next((a for a in self.assignments if a["Name"].lower() == identity), None), identity)
            return CmdletResult([dict(record) for record in self.assignments], [])  # new objects, as decoded JSON is
        if cmdlet == "Get-ManagementRole":
            if "Identity" not in parameters:
                return CmdletResult([{"Name": role} for role in ROLES], [])
            return self._found(next(({"Name": role} for role in ROLES if role.lower() == identity), None), identity)
        if cmdlet == "Get-Mailbox":
            return self._found(None if identity.startswith("ghost") else {"Name": identity}, identity)
        if cmdlet == "New-ServicePrincipal":
            record = {"Identity": OBJECT_ID, "AppId": parameters["AppId"], "ObjectId": parameters["ObjectId"],
                      "DisplayName": parameters["DisplayName"]}
            self.pointers.append(record)
            return CmdletResult([record], [])
        return CmdletResult([], [])

    @staticmethod
    def _found(record, identity):
        if record is None:
            raise ExoError("object '%s' couldn't be found" % identity, status=404, kind="not_found")
        return CmdletResult([dict(record)], [])

    def writes(self):
        return [(cmdlet, parameters) for cmdlet, parameters in self.calls if not cmdlet.startswith("Get-")]


def pointer(app_id=APP_ID, shape="ObjectId", display_name="Mimecast Synchronization Engine"):
    identity = OBJECT_ID if shape == "ObjectId" else SERVICE_ID
    return {"Identity": identity, "Name": identity, "AppId": app_id, shape: identity, "DisplayName": display_name}


def assignment(name, assignee, role=ROLE, scope=None, unit=None):
    return {"Name": name, "Role": role, "RoleAssignee": assignee, "RoleAssigneeType": "ServicePrincipal",
            "CustomResourceScope": scope, "RecipientWriteScope": "AdministrativeUnit" if unit else "CustomRecipientScope",
            "CustomRecipientWriteScope": unit}


OTHER_POINTER = {"Identity": "104c9472-3e85-51c9-aeeb-0566c7c38c30", "ObjectId": "104c9472-3e85-51c9-aeeb-0566c7c38c30",
                 "AppId": OTHER_APP, "DisplayName": "Contoso Backup"}
OTHER_SCOPE = {"Name": "Backup mailboxes", "RecipientFilter": "Department -eq 'Finance'"}
OTHER_ASSIGNMENT = assignment("Contoso Backup EWS", OTHER_POINTER["Identity"], scope="Backup mailboxes")


def plan(tenant, **changes):
    return RbacPlan(tenant, Wanted(params(**changes)), changes.get("state", "present")).build()


# -- input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, text", [
    ({"app_id": "mse"}, "app_id 'mse' is not a GUID"),
    ({"service_principal_object_id": "x"}, "Enterprise applications"),
    ({"role": "Mail Recipients"}, "not an application role"),
    ({"admin_unit": "sales", "recipient_filter": None}, "administrative unit"),
    ({"recipient_filter": "  "}, "recipient_filter is empty"),
    ({"assignment_name": "x" * 65}, "assignment_name must be 1 to 64"),
    ({"scope_name": "mine", "recipient_filter": None}, "scope_name names the management scope"),
])
def test_bad_options_fail_with_the_fix(changes, text):
    with pytest.raises(RbacError, match=text):
        Wanted(params(**changes))


def test_default_names_carry_the_app_id_and_fit_64_characters():
    wanted = Wanted(params(role="Application MailboxSettings.ReadWrite"))
    assert wanted.assignment_name == "MailboxSettings.ReadWrite-" + APP_ID and len(wanted.assignment_name) <= 64
    assert wanted.scope_name == "MSE-" + APP_ID


# -- the -App value and scopes -----------------------------------------------------------------


def test_app_value_is_the_guid_exchange_returned():
    assert app_parameter(pointer(shape="ServiceId")) == SERVICE_ID
    assert app_parameter(pointer(shape="ObjectId")) == OBJECT_ID
    assert app_parameter({"Identity": "abc"}) == "abc"


def test_assignment_scope_kinds():
    assert assignment_scope(assignment("a", "x", scope="Sales")) == ("scope", "sales")
    unit = "4D819CE9-9257-44E2-9D3D-7D0B4F4B1C11"
    assert assignment_scope(assignment("a", "x", unit=unit)) == ("admin_unit", unit.lower())
    assert assignment_scope({"RecipientWriteScope": "Organization"}) == ("organization", None)


# -- plans -------------------------------------------------------------------------------------


def test_fresh_tenant_plans_pointer_scope_and_assignment_in_that_order():
    tenant = FakeTenant([OTHER_POINTER], [OTHER_SCOPE], [OTHER_ASSIGNMENT])
    steps = plan(tenant).steps
    assert [step.cmdlet for step in steps] == ["New-ServicePrincipal", "New-ManagementScope", "New-ManagementRoleAssignment"]
    assert steps[2].parameters == {"Name": OURS, "Role": ROLE, "App": APP, "CustomResourceScope": "MSE-" + APP_ID}
    assert tenant.writes() == []  # planning reads only


@pytest.mark.parametrize("shape, expected", [("ObjectId", OBJECT_ID), ("ServiceId", SERVICE_ID)])
def test_apply_passes_the_looked_up_identity_as_app(shape, expected):
    tenant = FakeTenant([pointer(shape=shape)])
    the_plan = plan(tenant, recipient_filter=None)
    done = []
    apply_steps(tenant, the_plan, done)
    assert tenant.writes() == [("New-ManagementRoleAssignment", {"Name": OURS, "Role": ROLE, "App": expected})]
    assert len(done) == 1


def test_converged_tenant_plans_nothing():
    mine = pointer()
    tenant = FakeTenant([mine, OTHER_POINTER], [OTHER_SCOPE, {"Name": "MSE-" + APP_ID, "RecipientFilter": "{Department -eq  'Sales'}"}],
                        [OTHER_ASSIGNMENT, assignment(OURS, OBJECT_ID, scope="MSE-" + APP_ID)])
    the_plan = plan(tenant)
    assert the_plan.steps == [] and the_plan.others == [] and the_plan.warnings == []


def test_a_changed_scope_kind_replaces_our_assignment():
    unit = "4d819ce9-9257-44e2-9d3d-7d0b4f4b1c11"
    tenant = FakeTenant([pointer()], [], [assignment(OURS, OBJECT_ID, scope="MSE-" + APP_ID)])
    steps = plan(tenant, recipient_filter=None, admin_unit=unit).steps
    assert [step.cmdlet for step in steps] == ["Remove-ManagementRoleAssignment", "New-ManagementRoleAssignment"]
    assert steps[1].parameters["RecipientAdministrativeUnitScope"] == unit


def test_other_assignments_of_the_app_are_reported_not_touched():
    tenant = FakeTenant([pointer()], [], [assignment("by hand", OBJECT_ID)])
    the_plan = plan(tenant, recipient_filter=None)
    assert [step.cmdlet for step in the_plan.steps] == ["New-ManagementRoleAssignment"]
    assert [record["Name"] for record in the_plan.others] == ["by hand"]
    assert "grants add up" in the_plan.warnings[0]


def test_conflicts_fail_before_any_write():
    taken = FakeTenant([pointer(), OTHER_POINTER], [], [assignment(OURS, OTHER_POINTER["Identity"])])
    with pytest.raises(RbacError, match="not this module's"):
        plan(taken)
    shared = FakeTenant([pointer(), OTHER_POINTER], [OTHER_SCOPE], [OTHER_ASSIGNMENT])
    with pytest.raises(RbacError, match="used by Contoso Backup EWS"):
        plan(shared, scope_name="Backup mailboxes")
    no_object_id = FakeTenant([OTHER_POINTER])
    with pytest.raises(RbacError, match="service_principal_object_id"):
        plan(no_object_id, service_principal_object_id=None)
    unknown_role = FakeTenant([pointer()])
    with pytest.raises(RbacError, match="has no role 'Application Nothing'.*Application roles: Application EWS"):
        RbacPlan(unknown_role, Wanted(params(role="Application Nothing")), "present").build()
    with pytest.raises(RbacError, match="ghost@contoso.com to verify with does not exist"):
        RbacPlan(FakeTenant([pointer()]), Wanted(params()), "present").build(["ghost@contoso.com"])
    for tenant in (taken, shared, no_object_id, unknown_role):
        assert tenant.writes() == []


def test_absent_removes_ours_and_leaves_what_others_use():
    scope = {"Name": "MSE-" + APP_ID, "RecipientFilter": "Department -eq 'Sales'"}
    tenant = FakeTenant([pointer(), OTHER_POINTER], [OTHER_SCOPE, scope],
                        [OTHER_ASSIGNMENT, assignment(OURS, OBJECT_ID, scope=scope["Name"])])
    steps = plan(tenant, state="absent").steps
    assert [(step.cmdlet, step.parameters["Identity"]) for step in steps] == [
        ("Remove-ManagementRoleAssignment", OURS), ("Remove-ManagementScope", scope["Name"]),
        ("Remove-ServicePrincipal", OBJECT_ID)]


def test_absent_keeps_a_pointer_still_in_use_or_not_ours():
    in_use = FakeTenant([pointer()], [], [assignment(OURS, OBJECT_ID), assignment("Mail.Read by hand", OBJECT_ID,
                                                                                  role="Application Mail.Read")])
    the_plan = plan(in_use, state="absent")
    assert [step.cmdlet for step in the_plan.steps] == ["Remove-ManagementRoleAssignment"]
    assert "Mail.Read by hand" in the_plan.warnings[0]
    foreign = FakeTenant([pointer(display_name="Made by hand")])
    the_plan = plan(foreign, state="absent")
    assert the_plan.steps == [] and "did not create it" in the_plan.warnings[0]


# -- verification ------------------------------------------------------------------------------


class Authorization:
    def __init__(self, in_scope):
        self.in_scope = in_scope

    def invoke(self, cmdlet, parameters):
        assert cmdlet == "Test-ServicePrincipalAuthorization"
        return CmdletResult([{"RoleName": "Application Mail.Read", "InScope": True},
                             {"RoleName": ROLE, "InScope": self.in_scope[parameters["Resource"]]}], [])


def test_verify_reads_in_scope_for_the_role_only():
    rows = verify(Authorization({"a@x.com": "True", "b@x.com": "False"}), pointer(), ROLE, ["a@x.com"], ["b@x.com"])
    assert [(row["mailbox"], row["ok"]) for row in rows] == [("a@x.com", True), ("b@x.com", True)]
    with pytest.raises(VerificationFailed, match="b@x.com is in scope"):
        verify(Authorization({"a@x.com": True, "b@x.com": True}), pointer(), ROLE, ["a@x.com"], ["b@x.com"])
