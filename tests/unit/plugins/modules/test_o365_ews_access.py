# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_ews_access, run in-process against the Exchange Online emulator.

The seeded tenant (tests/emulator/README.md, "Organisation, EWS policy and RBAC for
Applications"): EwsEnabled not configured, an allow list holding another app (Contoso
Backup); a few mailboxes with EWS switched off; the MSE app known to Entra ID but not to Exchange.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_ews_access
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules.emulated import (
    connection, org, run_module, warning_texts, writes)


def ews(exo, capsys, app="secret", check=False, diff=False, **args):
    """Run o365_ews_access signed in as ``app`` with ``args``; returns its result dict."""
    return run_module(o365_ews_access, dict(connection(exo, app), **args), capsys, check=check, diff=diff)


def entra(exo, key):
    """An app the emulated Entra ID knows (mse, backup, crm): app_id and object_id."""
    return org(exo)["entra_service_principals"][key]


def test_converges_from_the_seeded_tenant_then_changes_nothing(exo, capsys):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    result = ews(exo, capsys, app_ids=[mse], diff=True)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] and result["apps"] == {mse: True}
    assert result["policy"] == {"ews_enabled": True, "ews_allowed_app_ids": [backup, mse]}
    assert result["diff"]["before"] == {"ews_enabled": None, "ews_allowed_app_ids": [backup]}
    assert any("24 hours" in warning for warning in warning_texts(result))
    assert any("only the apps in EwsAllowedAppIDs" in warning for warning in warning_texts(result))
    state = org(exo)
    assert state["ews_enabled"] is True and state["ews_allowed_app_ids"] == [backup, mse]
    assert writes(exo) == {"Set-OrganizationConfig": 1}
    exo.control.reset_stats()
    second = ews(exo, capsys, app_ids=[mse.upper()])
    assert not second.get("failed") and not second["changed"] and "warnings" not in second, second
    assert writes(exo) == {}


def test_check_mode_writes_nothing_and_reports_the_change(exo, capsys):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    result = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True, check=True, diff=True)
    assert not result.get("failed"), result["msg"]
    assert result["changed"] and result["policy"]["ews_allowed_app_ids"] == [backup, mse]
    blocked = org(exo)["mailboxes_ews_disabled"]
    assert sorted(result["mailboxes"]["fixed"]) == sorted(blocked) and blocked
    assert result["diff"]["after"]["mailboxes_with_ews_off"] == []
    assert writes(exo) == {}
    assert org(exo)["ews_allowed_app_ids"] == [backup] and org(exo)["mailboxes_ews_disabled"] == blocked


def test_absent_removes_only_our_entry_and_keeps_enabled(exo, capsys):
    mse, crm, backup = (entra(exo, key)["app_id"] for key in ("mse", "crm", "backup"))
    org(exo, ews_enabled=True, ews_allowed_app_ids=[backup, mse.upper(), crm])
    result = ews(exo, capsys, app_ids=[mse], state="absent")
    assert not result.get("failed") and result["changed"], result
    assert result["apps"] == {mse: False}
    assert org(exo)["ews_enabled"] is True and org(exo)["ews_allowed_app_ids"] == [backup, crm]
    again = ews(exo, capsys, app_ids=[mse], state="absent")
    assert not again.get("failed") and not again["changed"]


def test_mailbox_fix_in_scope_only_then_nothing_left(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    blocked = org(exo)["mailboxes_ews_disabled"]
    types = {row["UserPrincipalName"]: row["RecipientTypeDetails"] for row in exo.control.mailboxes(limit=10000)["mailboxes"]}
    users = [upn for upn in blocked if types[upn] == "UserMailbox"]
    rooms = [upn for upn in blocked if types[upn] != "UserMailbox"]
    assert rooms and users  # the seed has both kinds
    report = ews(exo, capsys, app_ids=[mse], check_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert not report.get("failed"), report["msg"]
    assert sorted(report["mailboxes"]["blocked"]) == sorted(users) and report["mailboxes"]["fixed"] == []
    assert org(exo)["mailboxes_ews_disabled"] == blocked  # reporting changes no mailbox
    fix = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert not fix.get("failed") and sorted(fix["mailboxes"]["fixed"]) == sorted(users), fix
    assert sorted(org(exo)["mailboxes_ews_disabled"]) == sorted(rooms)
    exo.control.reset_stats()
    again = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True, recipient_type_details=["UserMailbox"])
    assert not again.get("failed") and not again["changed"] and again["mailboxes"]["blocked_count"] == 0
    assert writes(exo) == {}


def test_explicit_mailbox_list_is_checked_one_by_one(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    blocked = org(exo)["mailboxes_ews_disabled"][0]
    result = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True, mailboxes=[blocked, exo.info["service_account"]])
    assert not result.get("failed") and result["mailboxes"]["fixed"] == [blocked], result
    assert exo.control.stats()["by_cmdlet"]["Get-CASMailbox"] == 2
    assert blocked not in org(exo)["mailboxes_ews_disabled"]


@pytest.mark.parametrize("args, text", [
    ({"app_ids": ["mse-app"]}, "not: mse-app"),
    ({"filter": "Department -eq 'Sales'"}, "set check_mailboxes: true"),
    ({"fix_mailboxes": True, "state": "absent"}, "only fits state=present"),
    ({"check_mailboxes": True, "mailboxes": ["ghost@contoso.onmicrosoft.com"]}, "do not exist"),
])
def test_bad_input_fails_once_with_nothing_changed(exo, capsys, args, text):
    args.setdefault("app_ids", [entra(exo, "mse")["app_id"]])
    before = org(exo)
    result = ews(exo, capsys, **args)
    assert result.get("failed") and text in result["msg"], result
    assert writes(exo) == {} and org(exo) == before


def test_refused_names_the_roles(exo, capsys):
    result = ews(exo, capsys, app="no_role", app_ids=[entra(exo, "mse")["app_id"]])
    assert result.get("failed")
    assert "Exchange Administrator" in result["msg"] and "Organization Management" in result["msg"]
    assert "Traceback" not in json.dumps(result)
