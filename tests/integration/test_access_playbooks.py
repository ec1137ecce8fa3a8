"""o365_ews_access and o365_app_mailbox_access through ansible-playbook against the emulator.

The seeded tenant (tests/emulator/README.md, "Organisation, EWS policy and RBAC for
Applications"): EwsEnabled not configured, an allow list holding another app (Contoso
Backup), which also has a pointer, a scope and two role assignments; a few mailboxes with
EWS switched off; the MSE app known to Entra ID but not to Exchange.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from emulator.client import EmulatorClient
from playbook import COLLECTIONS_ROOT, REPO, connection_args, run_module  # pylint: disable=import-error

EWS = "mimecast_mse.sync_engine.o365_ews_access"
RBAC = "mimecast_mse.sync_engine.o365_app_mailbox_access"
ROLE = "Application EWS.AccessAsApp"


def org(exo, **changes):
    """The emulator's organisation state (POST changes first when given)."""
    url = exo.info["control_url"] + "/org"
    response = requests.request("POST" if changes else "GET", url, json=changes or None, verify=exo.ca_path, timeout=30)
    response.raise_for_status()
    return response.json()


def entra(exo, key):
    return org(exo)["entra_service_principals"][key]


def writes(exo):
    """Cmdlets that change something, with their counts, since the last stats reset."""
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    return {name: count for name, count in by_cmdlet.items() if name.split("-")[0] in ("Set", "New", "Remove", "Add")}


def ews(tmp_path, exo, app="secret", check=False, diff=False, **args):
    return run_module(tmp_path, dict(connection_args(exo.info, app), **args), check=check, diff=diff, module=EWS)


def rbac(tmp_path, exo, check=False, diff=False, **args):
    mse = entra(exo, "mse")
    base = dict(connection_args(exo.info), app_id=mse["app_id"], service_principal_object_id=mse["object_id"])
    return run_module(tmp_path, dict(base, **args), check=check, diff=diff, module=RBAC)


def sample_mailboxes(exo):
    """(a Sales mailbox, a Finance mailbox) by UPN."""
    client = EmulatorClient(exo.info)
    sales = client.list_all("Get-Mailbox", {"Filter": "Department -eq 'Sales'"})[0][0]["UserPrincipalName"]
    finance = client.list_all("Get-Mailbox", {"Filter": "Department -eq 'Finance'"})[0][0]["UserPrincipalName"]
    return sales, finance


# -- o365_ews_access ---------------------------------------------------------------------------


def test_ews_converges_from_the_seeded_tenant_then_changes_nothing(tmp_path, exo):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    first = ews(tmp_path, exo, app_ids=[mse], diff=True)
    assert first.returncode == 0, first
    result = first.result
    assert result["changed"] and result["apps"] == {mse: True}
    assert result["policy"] == {"ews_enabled": True, "ews_allowed_app_ids": [backup, mse]}
    assert result["diff"]["before"] == {"ews_enabled": None, "ews_allowed_app_ids": [backup]}
    assert any("24 hours" in warning for warning in result["warnings"])
    assert any("only the apps in EwsAllowedAppIDs" in warning for warning in result["warnings"])
    state = org(exo)
    assert state["ews_enabled"] is True and state["ews_allowed_app_ids"] == [backup, mse]
    assert writes(exo) == {"Set-OrganizationConfig": 1}
    exo.control.reset_stats()
    second = ews(tmp_path, exo, app_ids=[mse.upper()])
    assert second.returncode == 0 and not second.result["changed"] and "warnings" not in second.result
    assert writes(exo) == {}


def test_ews_check_mode_writes_nothing_and_reports_the_change(tmp_path, exo):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    run = ews(tmp_path, exo, app_ids=[mse], fix_mailboxes=True, check=True, diff=True)
    assert run.returncode == 0, run
    assert run.result["changed"] and run.result["policy"]["ews_allowed_app_ids"] == [backup, mse]
    blocked = org(exo)["mailboxes_ews_disabled"]
    assert sorted(run.result["mailboxes"]["fixed"]) == sorted(blocked) and blocked
    assert run.result["diff"]["after"]["mailboxes_with_ews_off"] == []
    assert writes(exo) == {}
    assert org(exo)["ews_allowed_app_ids"] == [backup] and org(exo)["mailboxes_ews_disabled"] == blocked


def test_ews_absent_removes_only_our_entry_and_keeps_enabled(tmp_path, exo):
    mse, crm, backup = (entra(exo, key)["app_id"] for key in ("mse", "crm", "backup"))
    org(exo, ews_enabled=True, ews_allowed_app_ids=[backup, mse.upper(), crm])
    run = ews(tmp_path, exo, app_ids=[mse], state="absent")
    assert run.returncode == 0 and run.result["changed"], run
    assert run.result["apps"] == {mse: False}
    assert org(exo)["ews_enabled"] is True and org(exo)["ews_allowed_app_ids"] == [backup, crm]
    again = ews(tmp_path, exo, app_ids=[mse], state="absent")
    assert not again.result["changed"]


def test_ews_mailbox_fix_in_scope_only_then_nothing_left(tmp_path, exo):
    mse = entra(exo, "mse")["app_id"]
    blocked = org(exo)["mailboxes_ews_disabled"]
    types = {row["UserPrincipalName"]: row["RecipientTypeDetails"] for row in exo.control.mailboxes(limit=10000)["mailboxes"]}
    users = [upn for upn in blocked if types[upn] == "UserMailbox"]
    rooms = [upn for upn in blocked if types[upn] != "UserMailbox"]
    assert rooms and users  # the seed has both kinds
    report = ews(tmp_path, exo, app_ids=[mse], check_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert report.returncode == 0, report
    assert sorted(report.result["mailboxes"]["blocked"]) == sorted(users) and report.result["mailboxes"]["fixed"] == []
    assert org(exo)["mailboxes_ews_disabled"] == blocked  # reporting changes no mailbox
    fix = ews(tmp_path, exo, app_ids=[mse], fix_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert fix.returncode == 0 and sorted(fix.result["mailboxes"]["fixed"]) == sorted(users), fix
    assert sorted(org(exo)["mailboxes_ews_disabled"]) == sorted(rooms)
    exo.control.reset_stats()
    again = ews(tmp_path, exo, app_ids=[mse], fix_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert not again.result["changed"] and again.result["mailboxes"]["blocked_count"] == 0
    assert writes(exo) == {}


def test_ews_explicit_mailbox_list_is_checked_one_by_one(tmp_path, exo):
    mse = entra(exo, "mse")["app_id"]
    blocked = org(exo)["mailboxes_ews_disabled"][0]
    run = ews(tmp_path, exo, app_ids=[mse], fix_mailboxes=True, mailboxes=[blocked, exo.info["service_account"]])
    assert run.returncode == 0 and run.result["mailboxes"]["fixed"] == [blocked], run
    assert exo.control.stats()["by_cmdlet"]["Get-CASMailbox"] == 2
    assert blocked not in org(exo)["mailboxes_ews_disabled"]


@pytest.mark.parametrize("args, text", [
    ({"app_ids": ["mse-app"]}, "not: mse-app"),
    ({"filter": "Department -eq 'Sales'"}, "set check_mailboxes: true"),
    ({"fix_mailboxes": True, "state": "absent"}, "only fits state=present"),
    ({"check_mailboxes": True, "mailboxes": ["ghost@contoso.onmicrosoft.com"]}, "do not exist"),
])
def test_ews_bad_input_fails_once_with_nothing_changed(tmp_path, exo, args, text):
    args.setdefault("app_ids", [entra(exo, "mse")["app_id"]])
    before = org(exo)
    run = ews(tmp_path, exo, **args)
    assert run.returncode != 0 and text in run.result["msg"], run
    assert writes(exo) == {} and org(exo) == before


def test_ews_refused_names_the_roles(tmp_path, exo):
    run = ews(tmp_path, exo, app="no_role", app_ids=[entra(exo, "mse")["app_id"]])
    assert run.returncode != 0
    assert "Exchange Administrator" in run.result["msg"] and "Organization Management" in run.result["msg"]
    assert "Traceback" not in run.output


# -- o365_app_mailbox_access -------------------------------------------------------------------


def backup_objects(exo):
    """The other app's pointer, scopes and assignments as the emulator holds them."""
    state = org(exo)
    backup = state["entra_service_principals"]["backup"]["app_id"]
    return ([sp for sp in state["service_principals"] if sp["AppId"] == backup],
            [scope for scope in state["scopes"] if scope["Name"] == "Backup mailboxes"],
            [item for item in state["assignments"] if item["Name"].startswith("Contoso Backup")])


@pytest.mark.parametrize("mode", ["ObjectId", "ServiceId"])
def test_rbac_converges_verifies_and_second_run_changes_nothing(tmp_path, exo, mode):
    org(exo, app_identity=mode)
    others = backup_objects(exo)
    sales, finance = sample_mailboxes(exo)
    args = {"recipient_filter": "Department -eq 'Sales'", "verify_in_scope": [sales], "verify_out_of_scope": [finance]}
    first = rbac(tmp_path, exo, diff=True, **args)
    assert first.returncode == 0, first
    result = first.result
    assert result["changed"] and len(result["actions"]) == 3
    assert [row["ok"] for row in result["verification"]] == [True, True]
    assert result["diff"]["before"] == {"service_principal": None, "scope": None, "assignment": None}
    pointer = next(sp for sp in org(exo)["service_principals"] if sp["AppId"] == entra(exo, "mse")["app_id"])
    assert result["service_principal"]["identity"] == pointer[mode]
    assigned = [item for item in org(exo)["assignments"] if item["RoleAssignee"] == pointer[mode]]
    assert [(item["Role"], item["CustomResourceScope"]) for item in assigned] == [(ROLE, "MSE-" + pointer["AppId"])]
    exo.control.reset_stats()
    second = rbac(tmp_path, exo, **args)
    assert second.returncode == 0 and not second.result["changed"] and second.result["actions"] == [], second
    assert "warnings" not in second.result and second.result["other_assignments"] == []
    assert writes(exo) == {}
    assert backup_objects(exo) == others


def test_rbac_check_mode_writes_nothing(tmp_path, exo):
    before = org(exo)
    run = rbac(tmp_path, exo, check=True, recipient_filter="Department -eq 'Sales'", verify_in_scope=[sample_mailboxes(exo)[0]])
    assert run.returncode == 0 and run.result["changed"] and len(run.result["actions"]) == 3, run
    assert any("verification skipped" in warning for warning in run.result["warnings"])
    assert writes(exo) == {} and org(exo) == before


def test_rbac_absent_removes_only_what_it_owns(tmp_path, exo):
    others = backup_objects(exo)
    assert rbac(tmp_path, exo, recipient_filter="Department -eq 'Sales'").returncode == 0
    gone = rbac(tmp_path, exo, state="absent", diff=True)
    assert gone.returncode == 0 and gone.result["changed"], gone
    assert [action.split()[0] for action in gone.result["actions"]] == ["remove", "remove", "remove"]
    assert gone.result["diff"]["after"] == {"service_principal": None, "scope": None, "assignment": None}
    assert backup_objects(exo) == others
    mse = entra(exo, "mse")["app_id"]
    assert not [sp for sp in org(exo)["service_principals"] if sp["AppId"] == mse]
    assert not rbac(tmp_path, exo, state="absent").result["changed"]


def test_rbac_switching_to_an_admin_unit_replaces_the_assignment(tmp_path, exo):
    unit = org(exo)["admin_units"][0]["id"]
    sales, finance = sample_mailboxes(exo)
    assert rbac(tmp_path, exo, recipient_filter="Department -eq 'Finance'").returncode == 0
    run = rbac(tmp_path, exo, admin_unit=unit, verify_in_scope=[sales], verify_out_of_scope=[finance])
    assert run.returncode == 0 and run.result["assignment"]["scope_type"] == "admin_unit", run
    mine = [item for item in org(exo)["assignments"] if item["Role"] == ROLE and not item["Name"].startswith("Contoso")]
    assert len(mine) == 1 and mine[0]["CustomRecipientWriteScope"] == unit


def test_rbac_verification_that_disagrees_fails_after_saying_what_was_done(tmp_path, exo):
    sales, finance = sample_mailboxes(exo)
    run = rbac(tmp_path, exo, recipient_filter="Department -eq 'Sales'", verify_in_scope=[finance])
    assert run.returncode != 0 and "is not in scope" in run.result["msg"], run
    assert run.result["changed"] and len(run.result["actions"]) == 3
    assert sales  # the scope itself is as asked; only the sample was wrong


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
def test_rbac_bad_input_fails_once_with_nothing_changed(tmp_path, exo, args, text):
    before = org(exo)
    run = rbac(tmp_path, exo, **args)
    assert run.returncode != 0 and text in run.result["msg"], run
    assert writes(exo) == {} and org(exo) == before


def test_rbac_refused_names_exchange_administrator_and_role_management(tmp_path, exo):
    mse = entra(exo, "mse")
    args = dict(connection_args(exo.info, "no_role"), app_id=mse["app_id"], service_principal_object_id=mse["object_id"])
    run = run_module(tmp_path, args, module=RBAC)
    assert run.returncode != 0 and "Exchange Administrator" in run.result["msg"] and "Role Management" in run.result["msg"]


# -- playbooks/ews_app_access.yml ----------------------------------------------------------------


def run_playbook(tmp_path, exo, **extra_vars):
    """ansible-playbook playbooks/ews_app_access.yml against the emulator; returns the CompletedProcess."""
    args = connection_args(exo.info)
    variables = {"mse_tenant": args["tenant"], "mse_client_id": args["client_id"], "mse_client_secret": args["client_secret"],
                 "mse_login_url": args["login_url"], "mse_exchange_url": args["exchange_url"], "mse_ca_path": args["ca_path"]}
    variables.update(extra_vars)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = {key: value for key, value in os.environ.items() if not key.startswith("AZURE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
               "-e", "@" + str(tmp_path / "vars.json"), os.path.join(REPO, "playbooks", "ews_app_access.yml")]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def test_playbook_converges_the_seeded_tenant_and_decommissions(tmp_path, exo):
    mse = entra(exo, "mse")
    sales, finance = sample_mailboxes(exo)
    common = {"mse_app_client_id": mse["app_id"], "mse_mailbox_filter": "Department -eq 'Sales'"}
    first = run_playbook(tmp_path, exo, mse_app_enterprise_object_id=mse["object_id"], mse_verify_in_scope=[sales],
                         mse_verify_out_of_scope=[finance], **common)
    assert first.returncode == 0, first.stdout + first.stderr
    state = org(exo)
    assert mse["app_id"] in state["ews_allowed_app_ids"] and state["ews_enabled"] is True
    assert any(item["Name"] == "EWS.AccessAsApp-" + mse["app_id"] for item in state["assignments"])
    second = run_playbook(tmp_path, exo, **common)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout + second.stderr
    gone = run_playbook(tmp_path, exo, mse_access_state="absent", **common)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    state = org(exo)
    assert mse["app_id"] not in state["ews_allowed_app_ids"] and len(state["assignments"]) == 3
