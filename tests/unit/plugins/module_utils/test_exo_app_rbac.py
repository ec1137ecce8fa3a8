"""RBAC for Applications: option checks, names, the -App value, scope kinds and scope references.

What the module plans and writes against a tenant is tested against the emulator in
tests/unit/plugins/modules/test_o365_app_mailbox_access.py.
"""
from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_app_rbac import (
    RbacError,
    Wanted,
    RbacReader,
    app_parameter,
    assignment_scope,
    same_filter,
    scope_users,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_client import CmdletResult

APP_ID = "933cd1fb-b19e-593d-bb75-a749a8395603"
OBJECT_ID = "2ad4dac8-3532-5d08-9f81-471fe5aed19e"
SERVICE_ID = "5a2b7c1e-0000-4000-8000-00000000aaaa"
ROLE = "Application EWS.AccessAsApp"


def params(**changes):
    values = {"app_id": APP_ID, "service_principal_object_id": OBJECT_ID, "display_name": "Mimecast Synchronization Engine",
              "roles": [ROLE], "recipient_filter": "Department -eq 'Sales'", "scope_name": None, "admin_unit": None,
              "assignment_name": None, "state": "present"}
    values.update(changes)
    return values


def pointer(shape="ObjectId"):
    identity = OBJECT_ID if shape == "ObjectId" else SERVICE_ID
    return {"Identity": identity, "Name": identity, "AppId": APP_ID, shape: identity,
            "DisplayName": "Mimecast Synchronization Engine"}


def assignment(name, scope=None, unit=None, **fields):
    record = {"Name": name, "Role": ROLE, "RoleAssignee": OBJECT_ID, "RoleAssigneeType": "ServicePrincipal",
              "CustomResourceScope": scope, "RecipientWriteScope": "AdministrativeUnit" if unit else "CustomRecipientScope",
              "CustomRecipientWriteScope": unit}
    record.update(fields)
    return record


@pytest.mark.parametrize("changes, text", [
    ({"app_id": "mse"}, "app_id 'mse' is not a GUID"),
    ({"service_principal_object_id": "x"}, "Enterprise applications"),
    ({"roles": ["Mail Recipients"]}, "not an application role"),
    ({"roles": []}, "roles is empty"),
    ({"admin_unit": "sales", "recipient_filter": None}, "administrative unit"),
    ({"recipient_filter": "  "}, "recipient_filter is empty"),
    ({"assignment_name": "x" * 63}, "assignment_name must be 1 to 62"),
    ({"assignment_name": "mine", "roles": [ROLE, "Application Mail.Read"]}, "assignment_name names one assignment"),
    ({"scope_name": "mine", "recipient_filter": None}, "scope_name names the management scope"),
    ({"scope_name": "MSE*"}, "wildcard"),
    ({"assignment_name": "EWS*"}, "wildcard"),
])
def test_bad_options_fail_with_the_fix(changes, text):
    with pytest.raises(RbacError, match=text):
        Wanted(params(**changes))


def test_default_names_carry_the_app_id_and_leave_room_for_the_twin():
    wanted = Wanted(params(roles=["Application MailboxSettings.ReadWrite", "application mailboxsettings.readwrite", ROLE]))
    assert wanted.roles == ["Application MailboxSettings.ReadWrite", ROLE]
    base, twin = wanted.names("Application MailboxSettings.ReadWrite")
    assert base == "MailboxSettings.ReadWrite-" + APP_ID and twin == base + "-b" and len(twin) <= 64
    assert wanted.scope_name == "MSE-" + APP_ID
    assert wanted.all_names() == {name.lower() for role in wanted.roles for name in wanted.names(role)}


def test_app_value_is_the_guid_exchange_returned():
    assert app_parameter(pointer(shape="ServiceId")) == SERVICE_ID
    assert app_parameter(pointer(shape="ObjectId")) == OBJECT_ID
    assert app_parameter({"Identity": "abc"}) == "abc"


def test_assignment_scope_kinds():
    assert assignment_scope(assignment("a", scope="Sales")) == ("scope", "sales")
    unit = "4D819CE9-9257-44E2-9D3D-7D0B4F4B1C11"
    assert assignment_scope(assignment("a", unit=unit)) == ("admin_unit", unit.lower())
    assert assignment_scope({"RecipientWriteScope": "Organization"}) == ("organization", None)


def test_every_kind_of_reference_to_a_scope_counts_except_ours():
    scope = {"Name": "Shared", "Identity": "Shared", "Guid": "6f1c0c4e-2d6e-4c55-9d7b-4a8c7c0d9e11"}
    records = [assignment("ours", scope="shared"),
               assignment("other app", scope="SHARED"),
               assignment("helpdesk", RoleAssigneeType="RoleGroup", RoleAssignee="Helpdesk",
                          CustomRecipientWriteScope="Shared"),
               assignment("vip", RoleAssigneeType="RoleGroup", RoleAssignee="VIP admins",
                          ExclusiveRecipientWriteScope=scope["Guid"]),
               assignment("unrelated", scope="Other")]
    users = scope_users(records, scope, exclude={"ours"})
    assert [user.split(" (")[0] for user in users] == ["other app", "helpdesk", "vip"]
    assert "CustomRecipientWriteScope" in users[1] and "ExclusiveRecipientWriteScope" in users[2]


@pytest.mark.parametrize("stored, same", [
    ("Department -eq 'Sales'", True),
    ("(Department -eq 'Sales')", True),          # every statement wrapped, as Exchange stores some filters
    ("{ ( department -EQ 'sales' ) }", True),
    ("(Department -eq 'Sales') -and (Title -eq 'x')", False),
    ("Department -eq 'Sales (EMEA)'", False),
])
def test_a_stored_filter_is_the_same_whatever_its_outer_parentheses_and_case(stored, same):
    assert same_filter(stored, "Department -eq 'Sales'") is same
    assert same_filter("(Department -eq 'Sales') -and (Title -eq 'x')", "Department -eq 'Sales') -and (Title -eq 'x'") \
        is False


class _Listing:
    """Get-ManagementRoleAssignment answers as given (only the reader's checks are under test here)."""

    def __init__(self, records):
        self.records = records

    def invoke(self, cmdlet, parameters):
        assert cmdlet == "Get-ManagementRoleAssignment" and "RoleAssignee" in parameters
        return CmdletResult([dict(record) for record in self.records], [])


def test_the_pointers_assignments_are_checked_against_the_pointer():
    ours, theirs = assignment("ours"), assignment("theirs", RoleAssignee="104c9472-3e85-51c9-aeeb-0566c7c38c30")
    named = assignment("named", RoleAssignee="Mimecast Synchronization Engine")
    group = assignment("group", RoleAssigneeType="RoleGroup", RoleAssignee=OBJECT_ID)
    assert [r["Name"] for r in RbacReader(_Listing([ours, named])).assignments(pointer())] == ["ours", "named"]
    # An answer that also holds others' records was not filtered: only the GUID is believed.
    assert [r["Name"] for r in RbacReader(_Listing([ours, named, theirs, group])).assignments(pointer())] == ["ours"]
