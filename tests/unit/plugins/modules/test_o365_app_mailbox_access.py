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
