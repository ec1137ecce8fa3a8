# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_ews_access, run in-process against the Exchange Online emulator.

The seeded tenant (tests/emulator/README.md, "Organisation, EWS policy and RBAC for
Applications"): EwsEnabled true with an allow list Microsoft pre-populated with another app
(Contoso Backup), read back as one array element holding the comma-joined list; a few
mailboxes with EWS switched off; the MSE app known to Entra ID but not to Exchange.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_ews_access
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules.emulated import (
    connection, org, run_module, warning_texts, writes)


def ews(exo, capsys, app="secret", check=False, diff=False, **args):
    """Run o365_ews_access signed in as ``app`` with ``args`` (no pause before the second check unless asked)."""
    args.setdefault("recheck_delay", 0)
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
    assert result["diff"]["before"] == {"ews_enabled": True, "ews_allowed_app_ids": [backup]}
    assert any("24 hours" in warning for warning in warning_texts(result))
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


# -- the allow list in a tenant shared with other apps and writers (issue 14) ---------------------


@pytest.mark.parametrize("shape", ["string", "array_joined", "array"])
def test_every_shape_of_the_list_converges_once_and_absent_removes_ours(exo, capsys, shape):
    mse, crm, backup = (entra(exo, key)["app_id"] for key in ("mse", "crm", "backup"))
    org(exo, ews_list_shape=shape, ews_allowed_app_ids=[backup, crm.upper()])
    first = ews(exo, capsys, app_ids=[mse])
    assert not first.get("failed") and first["changed"], first
    assert org(exo)["ews_allowed_app_ids"] == [backup, crm, mse]  # each ID in its plain form
    second = ews(exo, capsys, app_ids=[mse])
    assert not second.get("failed") and not second["changed"], second
    assert org(exo)["ews_allowed_app_ids"] == [backup, crm, mse]  # not appended twice
    gone = ews(exo, capsys, app_ids=[mse], state="absent")
    assert not gone.get("failed") and gone["changed"] and org(exo)["ews_allowed_app_ids"] == [backup, crm]


@pytest.mark.parametrize("enabled", [True, None])
def test_every_app_may_use_ews_is_never_narrowed_silently(exo, capsys, enabled):
    mse = entra(exo, "mse")["app_id"]
    before = org(exo, ews_enabled=enabled, ews_allowed_app_ids=None)
    refused = ews(exo, capsys, app_ids=[mse])
    assert refused.get("failed") and not refused["changed"], refused
    assert "ONLY those apps" in refused["msg"] and "restrict_to_listed_apps" in refused["msg"]
    assert "EWS is blocked by policy" in refused["msg"]
    assert writes(exo) == {} and org(exo) == before
    confirmed = ews(exo, capsys, app_ids=[mse], restrict_to_listed_apps=True)
    assert not confirmed.get("failed") and confirmed["changed"], confirmed
    assert org(exo)["ews_enabled"] is True and org(exo)["ews_allowed_app_ids"] == [mse]


def test_an_entry_another_writer_adds_between_our_read_and_write_is_kept(exo, capsys):
    mse, crm, backup = (entra(exo, key)["app_id"] for key in ("mse", "crm", "backup"))
    org(exo, concurrent_writes=[{"on": "Get-OrganizationConfig", "nth": 1, "ews_add": [crm]}])
    result = ews(exo, capsys, app_ids=[mse])
    assert not result.get("failed") and result["changed"], result
    assert sorted(org(exo)["ews_allowed_app_ids"]) == sorted([backup, crm, mse])


def test_an_entry_another_writer_removes_between_our_reads_is_named(exo, capsys):
    mse, crm, backup = (entra(exo, key)["app_id"] for key in ("mse", "crm", "backup"))
    org(exo, ews_allowed_app_ids=[backup, crm],
        concurrent_writes=[{"on": "Get-OrganizationConfig", "nth": 1, "ews_remove": [backup]}])
    result = ews(exo, capsys, app_ids=[mse])
    assert not result.get("failed") and result["changed"], result
    assert any("lost the entries %s" % backup in warning for warning in warning_texts(result)), result
    assert org(exo)["ews_allowed_app_ids"] == [crm, mse]


def test_an_update_lost_to_a_concurrent_writer_after_our_read_back_fails_naming_it(exo, capsys):
    """Another run wrote its stale whole list after our read-back: only the second check can see it."""
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    org(exo, concurrent_writes=[{"on": "Get-OrganizationConfig", "nth": 3, "ews_set": [backup]}])
    result = ews(exo, capsys, app_ids=[mse], recheck_delay=0.2)
    assert result.get("failed") and result["changed"], result
    assert "checked again" in result["msg"] and mse in result["msg"] and "serialise" in result["msg"]
    assert len(result["actions"]) == 1
    again = ews(exo, capsys, app_ids=[mse])
    assert not again.get("failed") and again["changed"] and mse in org(exo)["ews_allowed_app_ids"]


def test_a_write_applied_before_the_connection_dropped_is_settled_by_reading_back(exo, capsys):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    exo.control.add_faults({"kind": "drop", "where": "invoke", "cmdlet": "Set-OrganizationConfig", "count": 1,
                            "after": True})
    result = ews(exo, capsys, app_ids=[mse])
    assert not result.get("failed") and result["changed"], result
    assert org(exo)["ews_allowed_app_ids"] == [backup, mse]


def test_a_refused_write_reports_nothing_changed(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    before = org(exo)
    exo.control.add_faults({"kind": "adminapi_error", "where": "invoke", "cmdlet": "Set-OrganizationConfig", "count": 10})
    result = ews(exo, capsys, app_ids=[mse])
    assert result.get("failed") and not result["changed"] and "not applied" in result["msg"], result
    assert org(exo) == before


def test_a_mailbox_write_answered_ambiguously_is_read_back(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    blocked = org(exo)["mailboxes_ews_disabled"][0]
    exo.control.add_faults({"kind": "status", "status": 503, "where": "sub", "cmdlet": "Set-CASMailbox", "count": 1,
                            "after": True})
    result = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True, mailboxes=[blocked])
    assert not result.get("failed") and result["mailboxes"]["fixed"] == [blocked], result
    assert exo.control.stats()["by_cmdlet"]["Get-CASMailbox"] == 2  # the check, then the read-back


def test_a_mailbox_fix_stopped_by_a_refusal_reports_what_it_changed(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    assert not ews(exo, capsys, app_ids=[mse]).get("failed")  # the policy is right; only mailboxes change below
    blocked_before = org(exo)["mailboxes_ews_disabled"]
    exo.control.add_faults({"kind": "status", "status": 403, "where": "sub", "cmdlet": "Set-CASMailbox", "count": 1,
                            "message": "Access denied"})
    result = ews(exo, capsys, app_ids=[mse], fix_mailboxes=True)
    turned_on = sorted(set(blocked_before) - set(org(exo)["mailboxes_ews_disabled"]))
    assert result.get("failed") and "AttributeError" not in result["msg"], result
    assert turned_on and result["changed"] and sorted(result["mailboxes"]["fixed"]) == turned_on, result


def test_removing_the_last_entry_never_opens_ews_to_every_app_silently(exo, capsys):
    mse = entra(exo, "mse")["app_id"]
    before = org(exo, ews_enabled=True, ews_allowed_app_ids=[mse])
    refused = ews(exo, capsys, app_ids=[mse], state="absent")
    assert refused.get("failed") and not refused["changed"] and "allow_every_app" in refused["msg"], refused
    assert writes(exo) == {} and org(exo) == before
    confirmed = ews(exo, capsys, app_ids=[mse], state="absent", allow_every_app=True)
    assert not confirmed.get("failed") and confirmed["changed"], confirmed
    assert org(exo)["ews_enabled"] is True and not org(exo)["ews_allowed_app_ids"]


def test_entries_the_parameter_would_refuse_stop_the_run_before_any_write(exo, capsys):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    before = org(exo, ews_allowed_app_ids=[backup, "legacy-tool"])
    refused = ews(exo, capsys, app_ids=[mse])
    assert refused.get("failed") and "'legacy-tool'" in refused["msg"] and not refused["changed"], refused
    assert writes(exo) == {} and org(exo) == before


def test_a_braced_upper_case_entry_of_another_app_is_written_in_plain_form(exo, capsys):
    mse, backup = entra(exo, "mse")["app_id"], entra(exo, "backup")["app_id"]
    org(exo, ews_allowed_app_ids=["{%s}" % backup.upper()])
    result = ews(exo, capsys, app_ids=[mse])
    assert not result.get("failed") and result["changed"], result
    assert org(exo)["ews_allowed_app_ids"] == [backup, mse]
    assert not ews(exo, capsys, app_ids=[mse])["changed"]
