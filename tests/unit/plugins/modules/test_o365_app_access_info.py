# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""o365_app_access_info, run in-process against the Exchange Online emulator (and its Microsoft Graph side).

Every test sets the EWS policy it assumes through the control API rather than relying on the seed.
"""

from __future__ import annotations

import datetime
import json

import pytest
import requests

from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_app_access_info, o365_app_mailbox_access
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.modules.emulated import (
    connection, org, run_module, writes)

ROLE = "Application EWS.AccessAsApp"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def graph(exo, **changes):
    """GET or POST /_emulator/graph."""
    control = exo.control
    response = control.session.request("POST" if changes else "GET", control.url + "/graph", json=changes or None,
                                       verify=control.verify, timeout=60)
    response.raise_for_status()
    return response.json()


def graph_token(exo, app="secret"):
    """A Microsoft Graph token for one of the emulator's apps (client credentials)."""
    entry = exo.info["apps"][app]
    answer = requests.post("%s/%s/oauth2/v2.0/token" % (exo.info["login_url"], exo.info["tenant_id"]),
                           data={"grant_type": "client_credentials", "client_id": entry["client_id"],
                                 "client_secret": entry["client_secret"], "scope": GRAPH_SCOPE},
                           verify=exo.info["ca_path"], timeout=60)
    answer.raise_for_status()
    return answer.json()["access_token"]


def apps(exo):
    """(MSE app, Contoso Backup app) as org.py's Entra directory has them."""
    entra = org(exo)["entra_service_principals"]
    return entra["mse"], entra["backup"]


def info(exo, capsys, check=False, **args):
    """Run o365_app_access_info for the MSE app (unless app_ids is given); returns its result."""
    mse, _backup = apps(exo)
    base = dict(connection(exo), app_ids=[mse["app_id"]])
    return run_module(o365_app_access_info, dict(base, **args), capsys, check=check)


def scoped_grant(exo, capsys, recipient_filter="Department -eq 'Sales'"):
    """Give the MSE app a scoped EWS role with o365_app_mailbox_access."""
    mse, _backup = apps(exo)
    args = dict(connection(exo), app_id=mse["app_id"], service_principal_object_id=mse["object_id"],
                recipient_filter=recipient_filter)
    result = run_module(o365_app_mailbox_access, args, capsys)
    assert not result.get("failed"), result["msg"]


def department_mailbox(exo, department):
    rows = exo.control.mailboxes(limit=10000)["mailboxes"]
    return next(row["UserPrincipalName"] for row in rows if row["Department"] == department)


def test_policy_blocks_an_unlisted_app_and_nothing_is_written(exo, capsys):
    mse, backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[backup["app_id"]])
    exo.control.reset_stats()
    result = info(exo, capsys, check=True, app_ids=[mse["app_id"], backup["app_id"].upper()])
    assert not result.get("failed"), result["msg"]
    assert result["changed"] is False and writes(exo) == {}
    assert result["ews_policy"] == {"ews_enabled": True, "ews_allowed_app_ids": [backup["app_id"]]}
    ours, theirs = result["apps"][mse["app_id"]], result["apps"][backup["app_id"]]
    assert (ours["ews"]["listed"], ours["ews"]["allowed"]) == (False, False)
    assert (theirs["ews"]["listed"], theirs["ews"]["allowed"]) == (True, True)
    assert ours["verdicts"]["app_rbac"]["status"] == "not_ready"
    assert any("not in EwsAllowedAppIDs" in reason for reason in ours["verdicts"]["app_rbac"]["reasons"])
    assert any("no service principal pointer" in reason for reason in ours["verdicts"]["app_rbac"]["reasons"])
    assert result["verdicts"][mse["app_id"]] == {"app_rbac": "not_ready", "app_tenant_wide": "unknown"}


@pytest.mark.parametrize("enabled, listed, allowed", [
    (None, [], True),     # not configured: the list has no effect
    (False, "mse", False),
    (True, [], True),     # true with an empty list: no restriction by app ID
    (True, "mse", True),
])
def test_policy_meanings(exo, capsys, enabled, listed, allowed):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=enabled, ews_allowed_app_ids=[mse["app_id"].upper()] if listed == "mse" else listed)
    result = info(exo, capsys, check_mailboxes=False)
    assert result["apps"][mse["app_id"]]["ews"]["allowed"] is allowed
    assert result["apps"][mse["app_id"]]["ews"]["listed"] is (listed == "mse")
    assert "1 April 2027" not in result["apps"][mse["app_id"]]["ews"]["meaning"]


def test_allow_list_read_in_every_shape(exo, capsys):
    # One array element holding the comma-joined list, as a field report saw it.
    mse, backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=["%s,%s" % (backup["app_id"], mse["app_id"])])
    result = info(exo, capsys, check_mailboxes=False)
    assert result["apps"][mse["app_id"]]["ews"]["listed"] is True


def test_mailboxes_with_ews_off_counted_and_listed_within_the_limit(exo, capsys):
    mse, _backup = apps(exo)
    disabled = org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])["mailboxes_ews_disabled"]
    assert len(disabled) > 2
    result = info(exo, capsys, report_limit=2)
    assert result["mailboxes"]["ews_disabled_count"] == len(disabled)
    assert len(result["mailboxes"]["ews_disabled"]) == 2 and result["mailboxes"]["truncated"] is True
    assert result["mailboxes"]["selected"] == exo.info["mailboxes"]
    reasons = result["apps"][mse["app_id"]]["verdicts"]["app_rbac"]["reasons"]
    assert any("have their own EwsEnabled false" in reason for reason in reasons)


def test_scoped_rbac_ready_and_tested(exo, capsys):
    mse, _backup = apps(exo)
    scoped_grant(exo, capsys)
    sales, finance = department_mailbox(exo, "Sales"), department_mailbox(exo, "Finance")
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    result = info(exo, capsys, mailboxes=[sales], test_mailboxes=[sales])
    assert not result.get("failed"), result["msg"]
    app = result["apps"][mse["app_id"]]
    assert [(row["role"], row["scope_type"], row["recipient_filter"]) for row in app["assignments"]] == [
        (ROLE, "scope", "Department -eq 'Sales'")]
    assert [(row["mailbox"], row["in_scope"]) for row in app["authorization_tests"] if row["role"] == ROLE] == [(sales, True)]
    assert app["verdicts"]["app_rbac"] == {"status": "ends_2027_04_01", "reasons": [], "notes": [
        "Entra permissions were not read (no graph_access_token): a tenant-wide full_access_as_app would make the RBAC "
        "scope moot."]}
    out = info(exo, capsys, mailboxes=[sales], test_mailboxes=[finance])
    assert out["apps"][mse["app_id"]]["verdicts"]["app_rbac"]["status"] == "not_ready"
    assert any(finance in reason for reason in out["apps"][mse["app_id"]]["verdicts"]["app_rbac"]["reasons"])


def test_entra_full_access_as_app_makes_the_scope_moot(exo, capsys):
    mse, _backup = apps(exo)
    scoped_grant(exo, capsys)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    # Paged: one assignment per page.
    held = {"exchange": ["full_access_as_app"], "graph": ["Mail.ReadWrite", "User.Read.All"]}
    graph(exo, page_size=1, permissions={"mse": held})
    result = info(exo, capsys, check_mailboxes=False, graph_access_token=graph_token(exo),
                  graph_url=exo.info["base_url"])
    assert not result.get("failed"), result["msg"]
    app = result["apps"][mse["app_id"]]
    assert app["entra"]["read"] is True
    assert [(row["resource_app_id"], row["permission"], row["mailbox_access"]) for row in app["entra"]["permissions"]] == [
        ("00000003-0000-0000-c000-000000000000", "Mail.ReadWrite", True),
        ("00000003-0000-0000-c000-000000000000", "User.Read.All", False),
        ("00000002-0000-0ff1-ce00-000000000000", "full_access_as_app", True)]
    moot = app["entra"]["permissions"][2]["makes_scoped_rbac_moot"]
    assert moot == [app["assignments"][0]["name"]]
    assert result["verdicts"][mse["app_id"]] == {"app_rbac": "ends_2027_04_01", "app_tenant_wide": "ends_2027_04_01"}
    assert "protects nothing" in app["verdicts"]["app_rbac"]["notes"][0]
    assert result["requests"]["graph_requests"] >= 5


def test_graph_without_full_access_as_app_says_tenant_wide_not_ready(exo, capsys):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    result = info(exo, capsys, check_mailboxes=False, graph_access_token=graph_token(exo),
                  graph_url=exo.info["base_url"])
    app = result["apps"][mse["app_id"]]
    assert app["entra"] == {"read": True, "service_principal_id": mse["object_id"], "permissions": []}
    assert app["verdicts"]["app_tenant_wide"]["status"] == "not_ready"


@pytest.mark.parametrize("token, text", [
    ("exchange", "401 InvalidAuthenticationToken"),
    ("no_role", "Application.Read.All"),
])
def test_graph_refusals_fail_clearly_without_the_token(exo, capsys, token, text):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    if token == "exchange":
        secret = exo.info["apps"]["secret"]
        value = requests.post("%s/%s/oauth2/v2.0/token" % (exo.info["login_url"], exo.info["tenant_id"]),
                              data={"grant_type": "client_credentials", "client_id": secret["client_id"],
                                    "client_secret": secret["client_secret"], "scope": exo.info["base_url"] + "/.default"},
                              verify=exo.info["ca_path"], timeout=60).json()["access_token"]
    else:
        value = graph_token(exo, app="no_role")
    result = info(exo, capsys, check_mailboxes=False, graph_access_token=value, graph_url=exo.info["base_url"])
    assert result["failed"] and text in result["msg"]
    assert "Traceback" not in json.dumps(result) and value not in json.dumps(result)
    assert result["ews_policy"]["ews_enabled"] is True  # what was read before is kept


def test_graph_url_must_be_https(exo, capsys):
    result = info(exo, capsys, graph_access_token="x", graph_url="http://graph.example.com")
    assert result["failed"] and "https://" in result["msg"]


def test_after_1_april_2027_every_path_is_not_ready(exo, capsys, monkeypatch):
    mse, _backup = apps(exo)
    scoped_grant(exo, capsys)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    monkeypatch.setattr(o365_app_access_info, "today", lambda: datetime.date(2027, 4, 1))
    result = info(exo, capsys, check_mailboxes=False)
    assert result["verdicts"][mse["app_id"]]["app_rbac"] == "not_ready"
    assert "switched off on 1 April 2027" in result["apps"][mse["app_id"]]["verdicts"]["app_rbac"]["reasons"][0]


def test_fullaccess_trustee_counts_and_state_file_is_only_read(exo, capsys, tmp_path):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    trustee = exo.info["service_account"]
    rows = exo.control.mailboxes(limit=10000)["mailboxes"]
    sales = [row for row in rows if row["Department"] == "Sales" and row["UserPrincipalName"].lower() != trustee]
    for row in sales[:3]:
        exo.control.grant(row["UserPrincipalName"], trustee)
    state_file = tmp_path / "state.json"
    exo.control.reset_stats()
    result = info(exo, capsys, check_mailboxes=False, trustee=trustee, filter="Department -eq 'Sales'",
                  state_file=str(state_file), report_limit=1)
    assert not result.get("failed"), result["msg"]
    fullaccess = result["fullaccess"]
    assert fullaccess["with_fullaccess"] >= 3 and fullaccess["verified_from_state"] == 0
    assert fullaccess["with_fullaccess"] + fullaccess["without_fullaccess_count"] == fullaccess["selected"]
    assert fullaccess["verdict"]["status"] == "not_ready" and "Basic authentication" in fullaccess["verdict"]["reasons"][0]
    assert result["verdicts"]["fullaccess"] == "not_ready"
    assert writes(exo) == {} and not state_file.exists()


def test_fullaccess_trusts_a_fresh_state_file(exo, capsys, tmp_path):
    trustee = exo.info["service_account"]
    state_file = tmp_path / "state.json"
    from ansible_collections.mimecast_mse.sync_engine.plugins.modules import o365_mailbox_fullaccess
    granted = run_module(o365_mailbox_fullaccess, dict(connection(exo), user=trustee, filter="Department -eq 'Sales'",
                                                       state_file=str(state_file)), capsys)
    assert not granted.get("failed"), granted["msg"]
    exo.control.reset_stats()
    result = info(exo, capsys, check_mailboxes=False, trustee=trustee, filter="Department -eq 'Sales'",
                  state_file=str(state_file))
    fullaccess = result["fullaccess"]
    assert fullaccess["without_fullaccess_count"] == 0
    assert fullaccess["verified_from_state"] == fullaccess["with_fullaccess"] == fullaccess["selected"]
    assert "Get-MailboxPermission" not in exo.control.stats()["by_cmdlet"]


def test_bad_options_fail_before_any_request(exo, capsys):
    exo.control.reset_stats()
    result = info(exo, capsys, app_ids=["not-a-guid"])
    assert result["failed"] and "GUID" in result["msg"]
    result = info(exo, capsys, check_mailboxes=False, filter="Department -eq 'Sales'")
    assert result["failed"] and "check_mailboxes" in result["msg"]
    result = info(exo, capsys, state_file="/tmp/x.json")
    assert result["failed"] and "trustee" in result["msg"]
    assert exo.control.stats()["by_cmdlet"] == {}


def test_unexpected_answer_shape_fails_clearly(exo, capsys):
    org(exo, ews_enabled=True, ews_allowed_app_ids=[])
    exo.control.add_faults({"kind": "corrupt", "mode": "value_not_list", "cmdlet": "Get-ServicePrincipal",
                            "where": "invoke", "probability": 1})
    result = info(exo, capsys, check_mailboxes=False)
    assert result["failed"], result
    assert "Get-ServicePrincipal" in result["msg"] and "Traceback" not in json.dumps(result)


@pytest.mark.parametrize("fault, text", [
    ("redirect", "redirect"),
    ("foreign_next_link", "not graph_url's host"),
    ("value_not_list", "without a list of objects"),
])
def test_graph_token_goes_nowhere_else_and_odd_answers_fail(exo, capsys, fault, text):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    token = graph_token(exo)
    exo.control.clear_sink()
    graph(exo, fault=fault)
    result = info(exo, capsys, check_mailboxes=False, graph_access_token=token, graph_url=exo.info["base_url"])
    assert result["failed"] and text in result["msg"], result["msg"]
    assert exo.control.sink_requests() == []
    assert token not in json.dumps(result) and "Traceback" not in json.dumps(result)


def test_graph_throttling_is_retried(exo, capsys):
    mse, _backup = apps(exo)
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"]])
    graph(exo, fault="throttle_once", permissions={"mse": {"exchange": ["full_access_as_app"]}})
    result = info(exo, capsys, check_mailboxes=False, graph_access_token=graph_token(exo),
                  graph_url=exo.info["base_url"])
    assert not result.get("failed"), result["msg"]
    assert [row["permission"] for row in result["apps"][mse["app_id"]]["entra"]["permissions"]] == ["full_access_as_app"]


@pytest.mark.parametrize("shape", ["identity", "display_name"])
def test_two_mse_apps_with_one_display_name_keep_their_own_assignments(exo, capsys, shape):
    mse, _backup = apps(exo)
    mse2 = org(exo)["entra_service_principals"]["mse2"]
    org(exo, ews_enabled=True, ews_allowed_app_ids=[mse["app_id"], mse2["app_id"]], role_assignee_shape=shape,
        add_pointers=[{"app_key": "mse2"}], add_assignments=[{"name": "MSE EWS", "role": ROLE, "app_key": "mse2"}])
    scoped_grant(exo, capsys)
    result = info(exo, capsys, check_mailboxes=False, app_ids=[mse["app_id"], mse2["app_id"]])
    assert not result.get("failed"), result["msg"]
    ours, theirs = result["apps"][mse["app_id"]], result["apps"][mse2["app_id"]]
    assert [row["name"] for row in ours["assignments"]] == ["EWS.AccessAsApp-" + mse["app_id"]]
    assert [(row["name"], row["scope_type"]) for row in theirs["assignments"]] == [("MSE EWS", "organization")]
