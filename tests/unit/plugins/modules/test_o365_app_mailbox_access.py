# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_app_mailbox_access, run in-process against the Exchange Online emulator.

The seeded tenant (tests/emulator/README.md, "Organisation, EWS policy and RBAC for
Applications"): another app (Contoso Backup) has a service principal pointer, a management
scope and two role assignments; the MSE app is known to Entra ID but not to Exchange; one
administrative unit holds the Sales mailboxes.
"""

from __future__ import annotations

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_app_mailbox_access
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules.emulated import (
    connection, org, run_module, warning_texts, writes)

ROLE = "Application EWS.AccessAsApp"


def rbac(exo, capsys, app="secret", check=False, diff=False, **args):
    """Run o365_app_mailbox_access for the MSE app, signed in as ``app``; returns its result dict."""
    mse = org(exo)["entra_service_principals"]["mse"]
    base = dict(connection(exo, app), app_id=mse["app_id"], service_principal_object_id=mse["object_id"])
    return run_module(o365_app_mailbox_access, dict(base, **args), capsys, check=check, diff=diff)


def sample_mailboxes(exo):
    """(a Sales mailbox, a Finance mailbox) by UPN, the first of each in listing order."""
    rows = exo.control.mailboxes(limit=10000)["mailboxes"]
    sales = next(row["UserPrincipalName"] for row in rows if row["Department"] == "Sales")
    finance = next(row["UserPrincipalName"] for row in rows if row["Department"] == "Finance")
    return sales, finance


def backup_objects(exo):
    """The other app's pointer, scopes and assignments as the emulator holds them."""
    state = org(exo)
    backup = state["entra_service_principals"]["backup"]["app_id"]
    return ([sp for sp in state["service_principals"] if sp["AppId"] == backup],
            [scope for scope in state["scopes"] if scope["Name"] == "Backup mailboxes"],
            [item for item in state["assignments"] if item["Name"].startswith("Contoso Backup")])


@pytest.mark.parametrize("mode", ["ObjectId", "ServiceId"])
def test_converges_verifies_and_second_run_changes_nothing(exo, capsys, mode):
    org(exo, app_identity=mode)
    others = backup_objects(exo)
    sales, finance = sample_mailboxes(exo)
    args = {"recipient_filter": "Department -eq 'Sales'", "verify_in_scope": [sales], "verify_out_of_scope": [finance]}
    result = rbac(exo, capsys, diff=True, **args)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] and len(result["actions"]) == 3
    assert [row["ok"] for row in result["verification"]] == [True, True]
    assert result["diff"]["before"] == {"service_principal": None, "scope": None, "assignments": []}
    mse = org(exo)["entra_service_principals"]["mse"]["app_id"]
    pointer = next(sp for sp in org(exo)["service_principals"] if sp["AppId"] == mse)
    assert result["service_principal"]["identity"] == pointer[mode]
    assigned = [item for item in org(exo)["assignments"] if item["RoleAssignee"] == pointer[mode]]
    assert [(item["Role"], item["CustomResourceScope"]) for item in assigned] == [(ROLE, "MSE-" + pointer["AppId"])]
    exo.control.reset_stats()
    second = rbac(exo, capsys, **args)
    assert not second.get("failed") and not second["changed"] and second["actions"] == [], second
    assert "warnings" not in second and second["other_assignments"] == []
    assert writes(exo) == {}
    assert backup_objects(exo) == others


def test_check_mode_writes_nothing(exo, capsys):
    before = org(exo)
    result = rbac(exo, capsys, check=True, recipient_filter="Department -eq 'Sales'", verify_in_scope=[sample_mailboxes(exo)[0]])
    assert not result.get("failed") and result["changed"] and len(result["actions"]) == 3, result
    assert any("verification skipped" in warning for warning in warning_texts(result))
    assert writes(exo) == {} and org(exo) == before


def test_absent_removes_only_what_it_owns(exo, capsys):
    others = backup_objects(exo)
    made = rbac(exo, capsys, recipient_filter="Department -eq 'Sales'")
    assert not made.get("failed"), made["msg"]
    gone = rbac(exo, capsys, state="absent", diff=True)
    assert not gone.get("failed") and gone["changed"], gone
    assert [action.split()[0] for action in gone["actions"]] == ["remove", "remove", "remove"]
    assert gone["diff"]["after"] == {"service_principal": None, "scope": None, "assignments": []}
    assert backup_objects(exo) == others
    mse = org(exo)["entra_service_principals"]["mse"]["app_id"]
    assert not [sp for sp in org(exo)["service_principals"] if sp["AppId"] == mse]
    again = rbac(exo, capsys, state="absent")
    assert not again.get("failed") and not again["changed"]


def test_switching_to_an_admin_unit_replaces_the_assignment(exo, capsys):
    unit = org(exo)["admin_units"][0]["id"]
    sales, finance = sample_mailboxes(exo)
    made = rbac(exo, capsys, recipient_filter="Department -eq 'Finance'")
    assert not made.get("failed"), made["msg"]
    result = rbac(exo, capsys, admin_unit=unit, verify_in_scope=[sales], verify_out_of_scope=[finance])
    assert not result.get("failed") and [item["scope_type"] for item in result["assignments"]] == ["admin_unit"], result
    mine = [item for item in org(exo)["assignments"] if item["Role"] == ROLE and not item["Name"].startswith("Contoso")]
    assert len(mine) == 1 and mine[0]["CustomRecipientWriteScope"] == unit


def test_verification_that_disagrees_fails_after_saying_what_was_done(exo, capsys):
    finance = sample_mailboxes(exo)[1]
    result = rbac(exo, capsys, recipient_filter="Department -eq 'Sales'", verify_in_scope=[finance])
    assert result.get("failed") and "is not in scope" in result["msg"], result
    assert result["changed"] and len(result["actions"]) == 3
    # the writes happened (the scope itself is as asked; only the sample was wrong)
    assert writes(exo) == {"New-ServicePrincipal": 1, "New-ManagementScope": 1, "New-ManagementRoleAssignment": 1}


@pytest.mark.parametrize("args, text", [
    ({"role": "Mail Recipients"}, "not an application role"),
    ({"role": "Application Nothing"}, "has no role"),
    ({"app_id": "mse"}, "is not a GUID"),
    ({"verify_in_scope": ["ghost@contoso.onmicrosoft.com"]}, "does not exist"),
    ({"service_principal_object_id": None}, "service_principal_object_id"),
    ({"recipient_filter": "Department -eq 'Sales'", "scope_name": "Backup mailboxes"}, "used by Contoso Backup EWS"),
    ({"recipient_filter": "Department -eq 'Sales'", "admin_unit": "4d819ce9-9257-44e2-9d3d-7d0b4f4b1c11"},
     "mutually exclusive"),
])
def test_bad_input_fails_once_with_nothing_changed(exo, capsys, args, text):
    before = org(exo)
    result = rbac(exo, capsys, **args)
    assert result.get("failed") and text in result["msg"], result
    assert writes(exo) == {} and org(exo) == before


def test_refused_names_exchange_administrator_and_role_management(exo, capsys):
    result = rbac(exo, capsys, app="no_role")
    assert result.get("failed") and "Exchange Administrator" in result["msg"] and "Role Management" in result["msg"]


# -- a tenant shared with other apps and admins (issue 14) ----------------------------------------

SALES = "Department -eq 'Sales'"


def test_a_scope_another_apps_assignment_uses_on_page_two_is_never_changed(exo, capsys):
    """Listings are complete: the other app's assignment sits on a later page of Get-ManagementRoleAssignment."""
    org(exo, rbac_page_size=2, add_pointers=[{"app_key": "crm"}], add_scopes=[{"name": "Shared", "filter": SALES}],
        add_assignments=[{"name": "CRM EWS", "role": ROLE, "app_key": "crm", "scope": "Shared"}])
    before = org(exo)
    assert [item["Name"] for item in before["assignments"]].index("CRM EWS") >= 2  # not on the first page
    result = rbac(exo, capsys, recipient_filter="Department -eq 'Finance'", scope_name="Shared")
    assert result.get("failed") and "CRM EWS" in result["msg"] and not result["changed"], result
    assert writes(exo) == {} and org(exo) == before
    assert exo.control.stats()["by_cmdlet"]["Get-ManagementRoleAssignment"] > 2  # every page was read


def test_a_scope_an_admin_role_assignment_writes_through_is_never_changed_or_removed(exo, capsys):
    before = org(exo)
    helpdesk = next(item for item in before["assignments"] if item["RoleAssigneeType"] == "RoleGroup"
                    and item["CustomRecipientWriteScope"])
    scope = helpdesk["CustomRecipientWriteScope"]
    widened = rbac(exo, capsys, recipient_filter=SALES, scope_name=scope)
    assert widened.get("failed") and helpdesk["Name"] in widened["msg"] and "CustomRecipientWriteScope" in widened["msg"]
    assert writes(exo) == {} and org(exo) == before
    removed = rbac(exo, capsys, state="absent", scope_name=scope)
    assert not removed.get("failed") and not removed["changed"], removed
    assert any("left in place" in warning and helpdesk["Name"] in warning for warning in warning_texts(removed))
    assert writes(exo) == {} and org(exo) == before


@pytest.mark.parametrize("shape", ["identity", "display_name"])
def test_two_mse_apps_with_one_display_name_never_take_each_others_assignment(exo, capsys, shape):
    org(exo, role_assignee_shape=shape, add_pointers=[{"app_key": "mse2"}],
        add_assignments=[{"name": "MSE EWS", "role": ROLE, "app_key": "mse2"}])
    theirs = [item for item in org(exo)["assignments"] if item["Name"] == "MSE EWS"]
    own = rbac(exo, capsys, recipient_filter=SALES)
    assert not own.get("failed") and own["changed"] and own["other_assignments"] == [], own
    taken = rbac(exo, capsys, assignment_name="MSE EWS", recipient_filter=SALES)
    assert taken.get("failed") and "not this module's" in taken["msg"], taken
    assert [item for item in org(exo)["assignments"] if item["Name"] == "MSE EWS"] == theirs
    again = rbac(exo, capsys, recipient_filter=SALES)
    assert not again.get("failed") and not again["changed"], again
    gone = rbac(exo, capsys, state="absent")
    assert not gone.get("failed") and gone["changed"], gone
    assert [item for item in org(exo)["assignments"] if item["Name"] == "MSE EWS"] == theirs
    mse2 = org(exo)["entra_service_principals"]["mse2"]["app_id"]
    assert [sp["AppId"] for sp in org(exo)["service_principals"]].count(mse2) == 1


def test_a_moved_assignment_is_made_before_the_old_one_is_broken(exo, capsys):
    unit = org(exo)["admin_units"][0]["id"]
    made = rbac(exo, capsys, recipient_filter="Department -eq 'Finance'")
    assert not made.get("failed"), made["msg"]
    old = [item for item in org(exo)["assignments"] if item["Name"].startswith("EWS.AccessAsApp-")]
    exo.control.add_faults({"kind": "adminapi_error", "where": "invoke", "cmdlet": "New-ManagementRoleAssignment",
                            "count": 10})
    failed = rbac(exo, capsys, admin_unit=unit)
    assert failed.get("failed") and "New-ManagementRoleAssignment" in failed["msg"] and not failed["changed"], failed
    assert [item for item in org(exo)["assignments"] if item["Name"].startswith("EWS.AccessAsApp-")] == old
    exo.control.clear_faults()
    moved = rbac(exo, capsys, admin_unit=unit)
    assert not moved.get("failed") and moved["changed"], moved
    assert [action.split()[0] for action in moved["actions"]] == ["assign", "replace"]
    mine = [item for item in org(exo)["assignments"] if item["Name"].startswith("EWS.AccessAsApp-")]
    assert [(item["Name"], item["CustomRecipientWriteScope"]) for item in mine] == [(old[0]["Name"] + "-b", unit)]
    back = rbac(exo, capsys, recipient_filter="Department -eq 'Finance'")
    assert not back.get("failed") and [item["name"] for item in back["assignments"]] == [old[0]["Name"]], back


@pytest.mark.parametrize("cmdlet", ["New-ServicePrincipal", "New-ManagementScope", "New-ManagementRoleAssignment"])
def test_a_write_applied_before_the_connection_dropped_converges_in_one_run(exo, capsys, cmdlet):
    exo.control.add_faults({"kind": "drop", "where": "invoke", "cmdlet": cmdlet, "count": 1, "after": True})
    result = rbac(exo, capsys, recipient_filter=SALES)
    assert not result.get("failed") and result["changed"] and len(result["actions"]) == 3, result
    assert exo.control.stats()["by_cmdlet"][cmdlet] == 2  # re-sent, answered "already exists", settled by read-back
    again = rbac(exo, capsys, recipient_filter=SALES)
    assert not again.get("failed") and not again["changed"]


def test_a_failed_later_step_reports_changed_and_what_was_done(exo, capsys):
    exo.control.add_faults({"kind": "adminapi_error", "where": "invoke", "cmdlet": "New-ManagementRoleAssignment",
                            "count": 10})
    result = rbac(exo, capsys, recipient_filter=SALES)
    assert result.get("failed") and result["changed"], result
    assert [action.split()[0] for action in result["actions"]] == ["create", "create"]


def test_a_filter_exchange_refuses_fails_before_any_write(exo, capsys):
    before = org(exo)
    result = rbac(exo, capsys, recipient_filter="Department -eq")
    assert result.get("failed") and "does not accept recipient_filter" in result["msg"] and not result["changed"], result
    assert writes(exo) == {} and org(exo) == before


def test_absent_removes_our_scope_when_the_pointer_is_already_gone(exo, capsys, exo_client):
    made = rbac(exo, capsys, recipient_filter=SALES)
    assert not made.get("failed"), made["msg"]
    pointer = made["service_principal"]["identity"]
    for record in exo_client.call("Get-ManagementRoleAssignment", {"RoleAssignee": pointer})["value"]:
        exo_client.call("Remove-ManagementRoleAssignment", {"Identity": record["Name"], "Confirm": False})
    exo_client.call("Remove-ServicePrincipal", {"Identity": pointer, "Confirm": False})  # as deleting it in Entra does
    mse = org(exo)["entra_service_principals"]["mse"]["app_id"]
    assert any(scope["Name"] == "MSE-" + mse for scope in org(exo)["scopes"])
    gone = rbac(exo, capsys, state="absent")
    assert not gone.get("failed") and gone["actions"] == ["remove management scope MSE-" + mse], gone
    assert not any(scope["Name"] == "MSE-" + mse for scope in org(exo)["scopes"])


def test_several_roles_on_one_scope_for_the_graph_mailbox_api(exo, capsys):
    sales, finance = sample_mailboxes(exo)
    roles = [ROLE, "Application MailboxFolder.ReadWrite", "Application MailboxItem.ImportExport"]
    result = rbac(exo, capsys, roles=roles, recipient_filter=SALES, verify_in_scope=[sales], verify_out_of_scope=[finance])
    assert not result.get("failed") and len(result["actions"]) == 5, result
    assert sorted(item["role"] for item in result["assignments"]) == sorted(roles)
    assert len(result["verification"]) == 6 and all(row["ok"] for row in result["verification"])
    again = rbac(exo, capsys, roles=roles, recipient_filter=SALES)
    assert not again.get("failed") and not again["changed"]
    gone = rbac(exo, capsys, roles=roles, state="absent")
    assert not gone.get("failed") and len(gone["actions"]) == 5, gone
    unknown = rbac(exo, capsys, roles=[ROLE, "Application Nothing.Read"], recipient_filter=SALES)
    assert unknown.get("failed") and "Nothing.Read" in unknown["msg"] and writes(exo).get("New-ManagementScope") == 1


def test_widening_a_scoped_assignment_to_the_organisation_is_said(exo, capsys):
    made = rbac(exo, capsys, recipient_filter=SALES)
    assert not made.get("failed"), made["msg"]
    wide = rbac(exo, capsys)
    assert not wide.get("failed") and any("widened" in warning for warning in warning_texts(wide)), wide


def test_an_exclusive_scope_of_an_admin_is_never_changed_or_removed(exo, capsys):
    """An exclusive scope locks its recipients away from other admins as soon as it exists, used or not."""
    before = org(exo, add_scopes=[{"name": "VIP", "filter": "Department -eq 'Finance'", "exclusive": True}])
    changed = rbac(exo, capsys, recipient_filter=SALES, scope_name="VIP")
    assert changed.get("failed") and "exclusive" in changed["msg"] and not changed["changed"], changed
    removed = rbac(exo, capsys, state="absent", scope_name="VIP")
    assert not removed.get("failed") and not removed["changed"], removed
    assert any("exclusive" in warning for warning in warning_texts(removed))
    assert writes(exo) == {} and org(exo) == before


def test_a_move_that_stopped_half_way_still_converges_to_a_third_scope(exo, capsys):
    unit = org(exo)["admin_units"][0]["id"]
    assert not rbac(exo, capsys, recipient_filter=SALES).get("failed")
    exo.control.add_faults({"kind": "adminapi_error", "where": "invoke", "cmdlet": "Remove-ManagementRoleAssignment",
                            "count": 10})
    half = rbac(exo, capsys, admin_unit=unit)
    assert half.get("failed") and half["changed"], half  # the new one exists, the old one could not be removed
    exo.control.clear_faults()
    mine = [item["Name"] for item in org(exo)["assignments"] if item["Name"].startswith("EWS.AccessAsApp-")]
    assert len(mine) == 2
    wide = rbac(exo, capsys)
    assert not wide.get("failed") and wide["changed"], wide
    assert [action.split()[0] for action in wide["actions"]] == ["remove", "assign", "replace"]
    mine = [item for item in org(exo)["assignments"] if item["Name"].startswith("EWS.AccessAsApp-")]
    assert [item["RecipientWriteScope"] for item in mine] == ["Organization"]
    assert not rbac(exo, capsys)["changed"]


def test_a_refusal_after_a_send_that_may_have_landed_reports_changed(exo, capsys):
    exo.control.add_faults({"kind": "drop", "where": "invoke", "cmdlet": "New-ManagementScope", "count": 1, "after": True},
                           {"kind": "status", "status": 403, "where": "invoke", "cmdlet": "New-ManagementScope",
                            "count": 1})
    result = rbac(exo, capsys, recipient_filter=SALES)
    assert result.get("failed") and result["changed"] and result["actions"] == [], result
    mse = org(exo)["entra_service_principals"]["mse"]["app_id"]
    assert any(scope["Name"] == "MSE-" + mse for scope in org(exo)["scopes"])  # it had landed
