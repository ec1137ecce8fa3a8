"""Organisation EWS policy, CAS mailboxes and RBAC for Applications (org.py)."""
from __future__ import annotations

import pytest

pytest_plugins = ["emulator.fixtures"]

ROLE = "Application EWS.AccessAsApp"


def org(exo, **changes):
    """GET (no changes) or POST /_emulator/org."""
    return exo.control.org(**changes)


def config(client, retrieve=False):
    parameters = {"RetrieveEwsOperationAccessPolicy": True} if retrieve else {}
    return client.call("Get-OrganizationConfig", parameters)["value"][0]


def error_text(response):
    return response.json()["error"]["details"][0]["message"]


# -- the EWS access policy ------------------------------------------------------------------


def test_seeded_policy_is_enabled_with_microsofts_prepopulated_entry(exo, exo_client):
    state = org(exo)
    backup = state["entra_service_principals"]["backup"]["app_id"]
    assert state["ews_enabled"] is True and state["ews_allowed_app_ids"] == [backup]
    assert state["ews_list_shape"] == "array_joined"
    plain = config(exo_client)
    assert plain["EwsEnabled"] is True
    assert plain["EwsAllowedAppIDs"] is None  # not retrieved without the switch
    assert config(exo_client, retrieve=True)["EwsAllowedAppIDs"] == [backup]


def test_allow_list_is_a_string_that_replaces_the_whole_list(exo, exo_client):
    entra = org(exo)["entra_service_principals"]
    mse, crm = entra["mse"]["app_id"], entra["crm"]["app_id"]
    exo_client.call("Set-OrganizationConfig", {"EwsEnabled": True, "EwsAllowedAppIDs": "%s, %s" % (mse, crm)})
    assert config(exo_client, retrieve=True)["EwsAllowedAppIDs"] == ["%s,%s" % (mse, crm)]  # default array_joined
    assert config(exo_client)["EwsEnabled"] is True
    response = exo_client.invoke("Set-OrganizationConfig", {"EwsAllowedAppIDs": [mse]})
    assert response.status_code == 400 and "ParameterBindingException" in error_text(response)
    response = exo_client.invoke("Set-OrganizationConfig", {"EwsAllowedAppIDs": "%s,not-a-guid" % mse})
    assert response.status_code == 400 and "not-a-guid" in error_text(response)
    assert org(exo)["ews_allowed_app_ids"] == [mse, crm]  # a refused call changes nothing


def test_null_clears_the_list_and_enabled_takes_null_true_false(exo, exo_client):
    exo_client.call("Set-OrganizationConfig", {"EwsAllowedAppIDs": None})
    assert config(exo_client, retrieve=True)["EwsAllowedAppIDs"] is None
    for value, stored in ((False, False), ("$true", True), (None, None)):
        exo_client.call("Set-OrganizationConfig", {"EwsEnabled": value})
        assert config(exo_client)["EwsEnabled"] is stored


def test_reset_restores_the_seeded_policy(exo, exo_client):
    exo_client.call("Set-OrganizationConfig", {"EwsEnabled": False, "EwsAllowedAppIDs": None})
    exo.control.reset()
    assert org(exo)["ews_enabled"] is True and len(org(exo)["ews_allowed_app_ids"]) == 1


# -- CAS mailboxes -----------------------------------------------------------------------------


def test_cas_mailboxes_seed_false_null_and_true_and_filter_on_ews_enabled(exo, exo_client):
    everything = exo_client.list_all("Get-CASMailbox", {"ResultSize": "Unlimited"})[0]
    values = {record["EwsEnabled"] for record in everything}
    assert values == {True, False, None}
    blocked, _warnings, pages = exo_client.list_all("Get-CASMailbox", {"Filter": "EwsEnabled -eq 0", "ResultSize": "Unlimited"},
                                                    page_size=2)
    assert pages > 1  # the listing pages like Get-Mailbox
    assert sorted(r["Guid"] for r in blocked) == sorted(r["Guid"] for r in everything if r["EwsEnabled"] is False)
    assert sorted(r["PrimarySmtpAddress"] for r in blocked) == sorted(org(exo)["mailboxes_ews_disabled"])
    not_set = exo_client.list_all("Get-CASMailbox", {"Filter": "EwsEnabled -eq $null", "ResultSize": "Unlimited"})[0]
    assert not_set and all(record["EwsEnabled"] is None for record in not_set)


def test_set_cas_mailbox_turns_ews_on_for_one_mailbox(exo, exo_client):
    upn = org(exo)["mailboxes_ews_disabled"][0]
    assert exo_client.call("Get-CASMailbox", {"Identity": upn})["value"][0]["EwsEnabled"] is False
    exo_client.call("Set-CASMailbox", {"Identity": upn, "EwsEnabled": True})
    assert exo_client.call("Get-CASMailbox", {"Identity": upn})["value"][0]["EwsEnabled"] is True
    assert upn not in org(exo)["mailboxes_ews_disabled"]
    response = exo_client.invoke("Set-CASMailbox", {"Identity": "ghost@contoso.onmicrosoft.com", "EwsEnabled": True})
    assert response.status_code == 400 and "ManagementObjectNotFoundException" in error_text(response)


# -- service principals -------------------------------------------------------------------------


def new_pointer(exo_client, sp, display_name="MSE"):
    return exo_client.call("New-ServicePrincipal", {"AppId": sp["app_id"], "ObjectId": sp["object_id"],
                                                    "DisplayName": display_name})["value"][0]


@pytest.mark.parametrize("mode", ["ObjectId", "ServiceId"])
def test_app_parameter_takes_only_the_identity_of_the_configured_shape(exo, exo_client, mode):
    state = org(exo, app_identity=mode)
    mse = state["entra_service_principals"]["mse"]
    pointer = new_pointer(exo_client, mse)
    other = "ServiceId" if mode == "ObjectId" else "ObjectId"
    assert mode in pointer and other not in pointer
    assert (pointer[mode] == mse["object_id"]) == (mode == "ObjectId")
    wrong = mse["object_id"] if mode == "ServiceId" else pointer["AppId"]
    response = exo_client.invoke("New-ManagementRoleAssignment", {"App": wrong, "Role": ROLE})
    assert response.status_code == 400 and "ManagementObjectNotFoundException" in error_text(response)
    made = exo_client.call("New-ManagementRoleAssignment", {"App": pointer[mode], "Role": ROLE, "Name": "mse-org"})
    assert made["value"][0]["RoleAssignee"] == pointer[mode]
    assert made["value"][0]["RoleAssigneeType"] == "ServicePrincipal"


def test_unknown_identity_lists_every_pointer_as_documented(exo, exo_client):
    mse = org(exo)["entra_service_principals"]["mse"]
    new_pointer(exo_client, mse)
    everything = exo_client.call("Get-ServicePrincipal")["value"]
    assert len(everything) == 2
    assert exo_client.call("Get-ServicePrincipal", {"Identity": "00000000-0000-0000-0000-000000000001"})["value"] == everything
    assert [p["AppId"] for p in exo_client.call("Get-ServicePrincipal", {"Identity": mse["app_id"]})["value"]] == [mse["app_id"]]


def test_new_pointer_needs_the_entra_pair_and_is_unique(exo, exo_client):
    entra = org(exo)["entra_service_principals"]
    mse, crm = entra["mse"], entra["crm"]
    response = exo_client.invoke("New-ServicePrincipal", {"AppId": mse["app_id"], "ObjectId": crm["object_id"]})
    assert response.status_code == 400 and "Microsoft Entra ID" in error_text(response)
    new_pointer(exo_client, mse)
    response = exo_client.invoke("New-ServicePrincipal", {"AppId": mse["app_id"], "ObjectId": mse["object_id"]})
    assert response.status_code == 400 and "already exists" in error_text(response)


def test_pointer_with_assignments_cannot_be_removed(exo, exo_client):
    mse = org(exo)["entra_service_principals"]["mse"]
    pointer = new_pointer(exo_client, mse)
    exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": ROLE, "Name": "mse-org"})
    response = exo_client.invoke("Remove-ServicePrincipal", {"Identity": mse["app_id"]})
    assert response.status_code == 400 and "mse-org" in error_text(response)
    exo_client.call("Remove-ManagementRoleAssignment", {"Identity": "mse-org"})
    exo_client.call("Remove-ServicePrincipal", {"Identity": mse["app_id"]})
    assert [p["AppId"] for p in exo_client.call("Get-ServicePrincipal")["value"]] == \
        [org(exo)["entra_service_principals"]["backup"]["app_id"]]


# -- scopes, assignments, Test-ServicePrincipalAuthorization --------------------------------------


def test_seeded_other_app_has_a_scope_and_two_assignments(exo, exo_client):
    backup = org(exo)["entra_service_principals"]["backup"]
    scopes = exo_client.call("Get-ManagementScope")["value"]
    assert [(s["Name"], s["RecipientFilter"]) for s in scopes] == [("Backup mailboxes", "Department -eq 'Finance'"),
                                                                   ("Helpdesk recipients", "Department -eq 'Support'")]
    rows = exo_client.call("Get-ManagementRoleAssignment", {"Role": ROLE})["value"]
    assert [(r["Name"], r["RoleAssignee"], r["CustomResourceScope"]) for r in rows] == \
        [("Contoso Backup EWS", backup["object_id"], "Backup mailboxes")]
    assert len(exo_client.call("Get-ManagementRoleAssignment")["value"]) == 4  # + two role-group assignments


def test_scope_filter_decides_in_scope(exo, exo_client):
    mse = org(exo)["entra_service_principals"]["mse"]
    pointer = new_pointer(exo_client, mse)
    exo_client.call("New-ManagementScope", {"Name": "sales", "RecipientRestrictionFilter": "Department -eq 'Sales'"})
    exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": ROLE, "CustomResourceScope": "sales"})
    # Department is not in Get-Mailbox's output (a live capture, see README); Get-Recipient has it.
    mailboxes = exo_client.list_all("Get-Recipient", {"ResultSize": "Unlimited", "RecipientTypeDetails": "UserMailbox"})[0]
    sales = next(m for m in mailboxes if m["Department"] == "Sales")
    finance = next(m for m in mailboxes if m["Department"] == "Finance")
    for mailbox, expected in ((sales, True), (finance, False)):
        rows = exo_client.call("Test-ServicePrincipalAuthorization", {"Identity": mse["app_id"], "Resource": mailbox["Guid"]})["value"]
        assert rows == [{"RoleName": ROLE, "GrantedPermissions": "EWS.AccessAsApp", "AllowedResourceScope": "sales",
                         "ScopeType": "CustomRecipientScope", "InScope": expected}]
    assert exo_client.call("Test-ServicePrincipalAuthorization", {"Identity": mse["app_id"]})["value"][0]["InScope"] == "Not Run"
    exo_client.call("Set-ManagementScope", {"Identity": "sales", "RecipientRestrictionFilter": "Department -eq 'Finance'"})
    rows = exo_client.call("Test-ServicePrincipalAuthorization", {"Identity": mse["app_id"], "Resource": finance["Guid"]})["value"]
    assert rows[0]["InScope"] is True


def test_admin_unit_and_organization_scopes(exo, exo_client):
    state = org(exo)
    mse, unit = state["entra_service_principals"]["mse"], state["admin_units"][0]
    pointer = new_pointer(exo_client, mse)
    exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": ROLE, "Name": "au",
                                                     "RecipientAdministrativeUnitScope": unit["id"]})
    record = exo_client.call("Get-ManagementRoleAssignment", {"Identity": "au"})["value"][0]
    assert record["RecipientWriteScope"] == "AdministrativeUnit" and record["CustomRecipientWriteScope"] == unit["id"]
    exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": "Application Mail.Read", "Name": "org"})
    hr_mailbox = exo_client.list_all("Get-Mailbox", {"Filter": "Department -eq 'HR'"})[0][0]
    rows = exo_client.call("Test-ServicePrincipalAuthorization", {"Identity": pointer["Identity"], "Resource": hr_mailbox["Guid"]})
    assert {(r["ScopeType"], r["InScope"]) for r in rows["value"]} == {("AdministrativeUnit", False), ("Organization", True)}


def test_assignment_errors(exo, exo_client):
    mse = org(exo)["entra_service_principals"]["mse"]
    pointer = new_pointer(exo_client, mse)
    app = pointer["Identity"]
    cases = [
        ({"App": app, "Role": "Mail Recipients"}, "isn't an application role"),
        ({"App": app, "Role": "Application Nothing"}, "ManagementObjectNotFoundException"),
        ({"App": app, "Role": ROLE, "CustomResourceScope": "no such scope"}, "ManagementObjectNotFoundException"),
        ({"App": app, "Role": ROLE, "Name": "x" * 65}, "ParameterBindingException"),
        ({"App": app, "Role": ROLE, "Name": "Contoso Backup EWS"}, "already exists"),
    ]
    for parameters, text in cases:
        response = exo_client.invoke("New-ManagementRoleAssignment", parameters)
        assert response.status_code == 400 and text in error_text(response), parameters
    response = exo_client.invoke("New-ManagementScope", {"Name": "bad", "RecipientRestrictionFilter": "Department -eq"})
    assert response.status_code == 400 and "ParserException" in error_text(response)
    response = exo_client.invoke("Remove-ManagementScope", {"Identity": "Backup mailboxes"})
    assert response.status_code == 400 and "Contoso Backup EWS" in error_text(response)
    assert len(exo_client.call("Get-ManagementRoleAssignment")["value"]) == 4  # nothing was added


def test_org_cmdlets_are_forbidden_without_a_role(exo):
    from emulator.client import EmulatorClient  # pylint: disable=import-outside-toplevel
    response, _raw = EmulatorClient(exo.info, app="no_role").invoke_raw("Set-OrganizationConfig", {"EwsEnabled": False})
    assert response.status_code == 403
    assert org(exo)["ews_enabled"] is True
