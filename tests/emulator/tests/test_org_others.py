"""org.py, issue 14: paged RBAC listings, objects of others next to ours, the allow list's shapes, a concurrent
writer, Get-Recipient -RecipientPreviewFilter, more application roles, writes applied before a dropped answer."""
from __future__ import annotations

import pytest
import requests

from emulator.client import EmulatorClient

pytest_plugins = ["emulator.fixtures"]

ROLE = "Application EWS.AccessAsApp"
MSE_NAME = "Mimecast Synchronization Engine"


def org(exo, **changes):
    """GET (no changes) or POST /_emulator/org."""
    return exo.control.org(**changes)


def org_refused(exo, **changes):
    response = requests.post(exo.info["control_url"] + "/org", json=changes, verify=exo.ca_path, timeout=30)
    assert response.status_code == 400, response.text
    return response.json()["error"]


def error_text(response):
    return response.json()["error"]["details"][0]["message"]


def allow_list(client):
    return client.call("Get-OrganizationConfig", {"RetrieveEwsOperationAccessPolicy": True})["value"][0]["EwsAllowedAppIDs"]


def new_pointer(client, sp, display_name=None):
    parameters = {"AppId": sp["app_id"], "ObjectId": sp["object_id"]}
    if display_name:
        parameters["DisplayName"] = display_name
    return client.call("New-ServicePrincipal", parameters)["value"][0]


# -- 1. paged RBAC listings -----------------------------------------------------------------------


@pytest.mark.parametrize("cmdlet", ["Get-ServicePrincipal", "Get-ManagementRoleAssignment", "Get-ManagementScope",
                                    "Get-ManagementRole"])
def test_rbac_listings_page_at_the_servers_maximum(exo, exo_client, cmdlet):
    entra = org(exo, add_scopes=[{"name": "Third", "filter": "Department -eq 'HR'"}])["entra_service_principals"]
    new_pointer(exo_client, entra["mse"])
    new_pointer(exo_client, entra["crm"])
    everything = exo_client.call(cmdlet)["value"]
    assert len(everything) >= 3 and "@odata.nextLink" not in exo_client.call(cmdlet)
    org(exo, rbac_page_size=2)
    first = exo_client.call(cmdlet)
    assert len(first["value"]) == 2 and "%24skiptoken=" in first["@odata.nextLink"]
    items, _warnings, pages = exo_client.list_all(cmdlet)
    assert items == everything and pages == -(-len(everything) // 2)
    # A client that prefers smaller pages gets them; a larger preference does not lift the server's maximum.
    items, _warnings, pages = exo_client.list_all(cmdlet, page_size=1)
    assert items == everything and pages == len(everything)
    assert len(exo_client.call(cmdlet, page_size=1000)["value"]) == 2


def test_an_object_on_page_two_and_the_same_body_rule(exo, exo_client):
    org(exo, rbac_page_size=2, add_pointers=[{"app_key": "crm"}],
        add_assignments=[{"name": "CRM Mail.Read", "role": "Application Mail.Read", "app_key": "crm"}])
    first = exo_client.call("Get-ManagementRoleAssignment")
    assert "CRM Mail.Read" not in [row["Name"] for row in first["value"]]
    second = exo_client.call("Get-ManagementRoleAssignment", url=first["@odata.nextLink"])
    names = [row["Name"] for row in second["value"]]
    assert len(names) == 2 and "@odata.nextLink" in second
    items = exo_client.list_all("Get-ManagementRoleAssignment")[0]
    assert "CRM Mail.Read" in [row["Name"] for row in items]
    # The next link belongs to its request body (as for Get-Mailbox).
    response = exo_client.invoke("Get-ManagementRoleAssignment", {"Role": ROLE}, url=first["@odata.nextLink"])
    assert response.status_code == 400 and "different request body" in response.text
    # A cmdlet that does not page still refuses a $skiptoken.
    response = exo_client.invoke("Get-OrganizationConfig", url=first["@odata.nextLink"])
    assert response.status_code == 400 and "does not page" in response.text


def test_identity_still_answers_one_object(exo, exo_client):
    org(exo, rbac_page_size=1)
    for cmdlet, identity in (("Get-ManagementScope", "Backup mailboxes"), ("Get-ManagementRole", ROLE),
                             ("Get-ManagementRoleAssignment", "Contoso Backup EWS")):
        body = exo_client.call(cmdlet, {"Identity": identity})
        assert len(body["value"]) == 1 and "@odata.nextLink" not in body, cmdlet
        response = exo_client.invoke(cmdlet, {"Identity": "no such thing"})
        assert response.status_code == 404 and "ManagementObjectNotFoundException" in error_text(response), cmdlet
    backup = org(exo)["entra_service_principals"]["backup"]
    assert [p["AppId"] for p in exo_client.call("Get-ServicePrincipal", {"Identity": backup["app_id"]})["value"]] == \
        [backup["app_id"]]
    # Unknown identity: every pointer, paged like the plain listing.
    org(exo, add_pointers=[{"app_key": "crm"}])
    unknown = exo_client.call("Get-ServicePrincipal", {"Identity": "00000000-0000-0000-0000-000000000001"})
    assert len(unknown["value"]) == 1 and "@odata.nextLink" in unknown
    assert len(exo_client.list_all("Get-ServicePrincipal", {"Identity": "00000000-0000-0000-0000-000000000001"})[0]) == 2


def test_rbac_page_size_is_validated_and_reset(exo):
    assert org(exo)["rbac_page_size"] == 1000
    org_refused(exo, rbac_page_size=0)
    org_refused(exo, rbac_page_size="2")
    assert org(exo, rbac_page_size=2)["rbac_page_size"] == 2
    exo.control.reset()
    assert org(exo)["rbac_page_size"] == 1000


# -- 2. objects of others next to ours ------------------------------------------------------------


def test_two_mse_apps_are_seeded_in_entra(exo):
    entra = org(exo)["entra_service_principals"]
    assert entra["mse"]["display_name"] == entra["mse2"]["display_name"] == MSE_NAME
    assert entra["mse"]["app_id"] != entra["mse2"]["app_id"]
    assert entra["mse"]["object_id"] != entra["mse2"]["object_id"]


def test_add_entra_apps_and_pointers_of_others(exo, exo_client):
    state = org(exo, add_entra_apps=[{"key": "fax", "display_name": "Contoso Fax"}],
                add_pointers=[{"app_key": "fax"}, {"app_key": "mse2", "display_name": "MSE (Berlin)"}])
    fax, mse2 = state["entra_service_principals"]["fax"], state["entra_service_principals"]["mse2"]
    assert fax["display_name"] == "Contoso Fax" and len(fax["app_id"]) == 36
    pointers = {p["AppId"]: p for p in exo_client.call("Get-ServicePrincipal")["value"]}
    assert pointers[fax["app_id"]]["DisplayName"] == "Contoso Fax"
    assert pointers[mse2["app_id"]]["DisplayName"] == "MSE (Berlin)"
    assert pointers[mse2["app_id"]]["ObjectId"] == mse2["object_id"]
    # Our own New-ServicePrincipal for an app that already has a pointer is refused.
    response = exo_client.invoke("New-ServicePrincipal", {"AppId": mse2["app_id"], "ObjectId": mse2["object_id"]})
    assert response.status_code == 400 and "already exists" in error_text(response)
    assert "nope" in org_refused(exo, add_pointers=[{"app_key": "nope"}])
    org_refused(exo, add_pointers=[{"app_key": "fax"}])  # a second pointer for the same app
    org_refused(exo, add_entra_apps=[{"key": "fax", "display_name": "again"}])
    exo.control.reset()
    assert "fax" not in org(exo)["entra_service_principals"]


def test_same_display_name_pointers(exo, exo_client):
    entra = org(exo, add_pointers=[{"app_key": "mse2"}])["entra_service_principals"]
    mine = new_pointer(exo_client, entra["mse"])
    assert mine["DisplayName"] == MSE_NAME
    both = exo_client.call("Get-ServicePrincipal", {"Identity": MSE_NAME})["value"]
    assert sorted(p["AppId"] for p in both) == sorted([entra["mse"]["app_id"], entra["mse2"]["app_id"]])
    response = exo_client.invoke("Test-ServicePrincipalAuthorization", {"Identity": MSE_NAME})
    assert response.status_code == 400 and "ManagementObjectAmbiguousException" in error_text(response)
    assert exo_client.call("Test-ServicePrincipalAuthorization", {"Identity": entra["mse"]["app_id"]})["value"] == []


def test_add_scopes_and_assignments_of_others(exo, exo_client):
    state = org(exo, add_pointers=[{"app_key": "mse2"}],
                add_scopes=[{"name": "Berlin", "filter": "Department -eq 'Sales'"},
                            {"name": "VIP", "filter": "Department -eq 'HR'", "exclusive": True}],
                add_assignments=[{"name": "MSE Berlin EWS", "role": ROLE, "app_key": "mse2", "scope": "Berlin"},
                                 {"name": "VIP admins", "role": "Mail Recipients", "role_group": "VIP Desk",
                                  "exclusive_write_scope": "VIP"},
                                 {"name": "Sales admins", "role": "Mail Recipients", "role_group": "Sales Desk",
                                  "write_scope": "Berlin"}])
    mse2 = state["entra_service_principals"]["mse2"]
    rows = {row["Name"]: row for row in exo_client.list_all("Get-ManagementRoleAssignment")[0]}
    app = rows["MSE Berlin EWS"]
    assert (app["RoleAssignee"], app["RoleAssigneeType"], app["CustomResourceScope"]) == \
        (mse2["object_id"], "ServicePrincipal", "Berlin")
    vip = rows["VIP admins"]
    assert (vip["RoleAssignee"], vip["RoleAssigneeType"], vip["RecipientWriteScope"], vip["ExclusiveRecipientWriteScope"],
            vip["CustomRecipientWriteScope"]) == ("VIP Desk", "RoleGroup", "ExclusiveRecipientScope", "VIP", "VIP")
    sales = rows["Sales admins"]
    assert (sales["RecipientWriteScope"], sales["CustomRecipientWriteScope"], sales["ExclusiveRecipientWriteScope"],
            sales["CustomResourceScope"]) == ("CustomRecipientScope", "Berlin", None, None)
    scope = exo_client.call("Get-ManagementScope", {"Identity": "VIP"})["value"][0]
    assert scope["Exclusive"] is True and scope["RecipientFilter"] == "Department -eq 'HR'"
    # Bad definitions are refused by the control API.
    org_refused(exo, add_assignments=[{"name": "x", "role": ROLE, "app_key": "crm"}])  # crm has no pointer
    org_refused(exo, add_assignments=[{"name": "x", "role": ROLE}])  # no assignee
    org_refused(exo, add_assignments=[{"name": "x", "role": "Mail Recipients", "role_group": "G", "write_scope": "VIP"}])
    org_refused(exo, add_assignments=[{"name": "x", "role": "Mail Recipients", "role_group": "G",
                                       "exclusive_write_scope": "Berlin"}])
    org_refused(exo, add_scopes=[{"name": "bad", "filter": "Department -eq"}])


def test_seeded_helpdesk_assignment_uses_a_write_scope(exo, exo_client):
    row = exo_client.call("Get-ManagementRoleAssignment", {"RoleAssignee": "Helpdesk"})["value"]
    assert [(r["Name"], r["Role"], r["RoleAssigneeType"], r["RecipientWriteScope"], r["CustomRecipientWriteScope"],
             r["CustomResourceScope"]) for r in row] == \
        [("Mail Recipients-Helpdesk", "Mail Recipients", "RoleGroup", "CustomRecipientScope", "Helpdesk recipients", None)]


def test_scope_used_by_anyone_cannot_be_removed_but_can_be_changed(exo, exo_client):
    org(exo, add_scopes=[{"name": "VIP", "filter": "Department -eq 'HR'", "exclusive": True},
                         {"name": "Unused", "filter": "Department -eq 'HR'"}],
        add_assignments=[{"name": "VIP admins", "role": "Mail Recipients", "role_group": "VIP Desk",
                          "exclusive_write_scope": "VIP"}])
    for scope, user in (("Helpdesk recipients", "Mail Recipients-Helpdesk"), ("VIP", "VIP admins"),
                        ("Backup mailboxes", "Contoso Backup EWS")):
        response = exo_client.invoke("Remove-ManagementScope", {"Identity": scope})
        assert response.status_code == 400 and user in error_text(response), scope
    orphans = [s["Name"] for s in exo_client.call("Get-ManagementScope", {"Orphan": True})["value"]]
    assert orphans == ["Unused"]
    # Changing a used scope is allowed, and it changes it for everyone who uses it.
    exo_client.call("Set-ManagementScope", {"Identity": "Helpdesk recipients",
                                            "RecipientRestrictionFilter": "Department -eq 'HR'"})
    assert [s["RecipientFilter"] for s in org(exo)["scopes"] if s["Name"] == "Helpdesk recipients"] == \
        ["Department -eq 'HR'"]
    exo_client.call("Remove-ManagementScope", {"Identity": "Unused"})


@pytest.mark.parametrize("shape", ["identity", "display_name"])
def test_role_assignee_shape(exo, exo_client, shape):
    state = org(exo, role_assignee_shape=shape)
    mse = state["entra_service_principals"]["mse"]
    pointer = new_pointer(exo_client, mse)
    made = exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": ROLE, "Name": "mine"})
    expected = pointer["Identity"] if shape == "identity" else MSE_NAME
    assert made["value"][0]["RoleAssignee"] == made["value"][0]["RoleAssigneeName"] == expected
    row = exo_client.call("Get-ManagementRoleAssignment", {"Identity": "mine"})["value"][0]
    assert row["RoleAssignee"] == expected
    by_assignee = exo_client.call("Get-ManagementRoleAssignment", {"RoleAssignee": pointer["Identity"]})["value"]
    assert [r["Name"] for r in by_assignee] == ["mine"]
    assert [a["RoleAssignee"] for a in org(exo)["assignments"] if a["Name"] == "mine"] == [expected]
    org_refused(exo, role_assignee_shape="guid")


# -- 3. the allow list's shapes --------------------------------------------------------------------


def test_allow_list_shapes(exo, exo_client):
    entra = org(exo)["entra_service_principals"]
    ids = [entra["backup"]["app_id"], entra["mse"]["app_id"], entra["crm"]["app_id"]]
    org(exo, ews_allowed_app_ids=ids)
    assert allow_list(exo_client) == [",".join(ids)]  # default: array_joined (the field report)
    org(exo, ews_list_shape="string")
    assert allow_list(exo_client) == ",".join(ids)
    org(exo, ews_list_shape="array")
    assert allow_list(exo_client) == ids
    for shape in ("string", "array_joined", "array"):
        org(exo, ews_list_shape=shape, ews_allowed_app_ids=None)
        assert allow_list(exo_client) is None, shape
    # Without the switch there is no list in any shape.
    org(exo, ews_allowed_app_ids=ids)
    assert exo_client.call("Get-OrganizationConfig")["value"][0]["EwsAllowedAppIDs"] is None
    org_refused(exo, ews_list_shape="csv")
    exo.control.reset()
    assert org(exo)["ews_list_shape"] == "array_joined"


# -- 4. a concurrent writer ------------------------------------------------------------------------


def test_concurrent_writer_changes_the_list_between_read_and_write(exo, exo_client):
    entra = org(exo)["entra_service_principals"]
    backup, mse, crm = entra["backup"]["app_id"], entra["mse"]["app_id"], entra["crm"]["app_id"]
    state = org(exo, ews_list_shape="array", concurrent_writes=[{"on": "Get-OrganizationConfig", "nth": 2,
                                                                 "ews_add": [crm]}])
    assert state["concurrent_writes"] == [{"on": "Get-OrganizationConfig", "nth": 2, "seen": 0, "ews_add": [crm]}]
    exo_client.call("Get-OrganizationConfig")  # without the switch: not counted
    assert allow_list(exo_client) == [backup]  # 1st counted call
    assert org(exo)["concurrent_writes"][0]["seen"] == 1
    assert allow_list(exo_client) == [backup]  # 2nd: answered before the other writer acts
    state = org(exo)
    assert state["concurrent_writes"] == [] and state["concurrent_writes_fired"] == 1
    assert state["ews_allowed_app_ids"] == [backup, crm]
    # A client that writes what it read plus its own entry now drops the other writer's entry: whole-list replace.
    exo_client.call("Set-OrganizationConfig", {"EwsAllowedAppIDs": "%s,%s" % (backup, mse)})
    assert allow_list(exo_client) == [backup, mse]


def test_concurrent_writer_after_a_write_and_set_remove(exo, exo_client):
    entra = org(exo)["entra_service_principals"]
    backup, mse, crm = entra["backup"]["app_id"], entra["mse"]["app_id"], entra["crm"]["app_id"]
    org(exo, ews_list_shape="array", concurrent_writes=[
        {"on": "Set-OrganizationConfig", "nth": 1, "ews_remove": [mse.upper()]},
        {"on": "Get-Mailbox", "nth": 1, "ews_set": [crm]},
        {"on": "Get-ServicePrincipal", "nth": 1, "ews_set": None},
    ])
    exo_client.call("Set-OrganizationConfig", {"EwsAllowedAppIDs": "%s,%s" % (backup, mse)})
    assert allow_list(exo_client) == [backup]  # our write landed, then the other writer removed our entry
    exo_client.call("Get-Mailbox", {"ResultSize": 1})
    assert allow_list(exo_client) == [crm]
    exo_client.call("Get-ServicePrincipal")
    assert allow_list(exo_client) is None
    assert org(exo)["concurrent_writes_fired"] == 3


def test_concurrent_writes_counts_refused_calls_and_is_validated(exo, exo_client):
    crm = org(exo)["entra_service_principals"]["crm"]["app_id"]
    org(exo, ews_list_shape="array", concurrent_writes=[{"on": "Set-OrganizationConfig", "nth": 1, "ews_add": [crm]}])
    response = exo_client.invoke("Set-OrganizationConfig", {"EwsAllowedAppIDs": "not-a-guid"})
    assert response.status_code == 400
    assert crm in allow_list(exo_client)
    org_refused(exo, concurrent_writes=[{"on": "Get-Mailbox", "nth": 0}])
    org_refused(exo, concurrent_writes=[{"on": "Get-Mailbox", "nth": 1, "ews_append": []}])
    org(exo, concurrent_writes=[{"on": "Get-Mailbox", "nth": 5, "ews_set": None}])
    exo.control.reset()
    assert org(exo)["concurrent_writes"] == []


# -- 5. Get-Recipient -RecipientPreviewFilter --------------------------------------------------------


def test_recipient_preview_filter_lists_matches_without_a_write(exo, exo_client):
    everything = exo_client.list_all("Get-Recipient", {"ResultSize": "Unlimited"})[0]
    sales = [r["Guid"] for r in everything if r.get("Department") == "Sales"]
    assert sales
    found = exo_client.list_all("Get-Recipient", {"RecipientPreviewFilter": "Department -eq 'Sales'",
                                                  "ResultSize": "Unlimited"})[0]
    assert [r["Guid"] for r in found] == sales
    limited = exo_client.call("Get-Recipient", {"RecipientPreviewFilter": "Department -eq 'Sales'", "ResultSize": 2})
    assert len(limited["value"]) == 2 and limited["@adminapi.warnings"]
    both = exo_client.list_all("Get-Recipient", {"RecipientPreviewFilter": "Department -eq 'Sales'",
                                                 "Filter": "RecipientTypeDetails -eq 'UserMailbox'",
                                                 "ResultSize": "Unlimited"})[0]
    assert both and all(r["Department"] == "Sales" and r["RecipientTypeDetails"] == "UserMailbox" for r in both)


def test_recipient_preview_filter_errors_like_new_management_scope(exo, exo_client):
    preview = exo_client.invoke("Get-Recipient", {"RecipientPreviewFilter": "Department -eq"})
    scope = exo_client.invoke("New-ManagementScope", {"Name": "x", "RecipientRestrictionFilter": "Department -eq"})
    assert preview.status_code == scope.status_code == 400
    assert preview.json()["error"]["details"][0]["code"] == scope.json()["error"]["details"][0]["code"]
    assert "ParserException" in error_text(preview) and "RecipientPreviewFilter" in error_text(preview)
    unknown = exo_client.invoke("Get-Recipient", {"RecipientPreviewFilter": "Nonsense -eq 'x'"})
    assert unknown.status_code == 400 and "is not a recognized filterable property" in error_text(unknown)
    for other in ({"Identity": "Svc-MSE"}, {"Anr": "svc"}):
        response = exo_client.invoke("Get-Recipient", dict(other, RecipientPreviewFilter="Department -eq 'Sales'"))
        assert response.status_code == 400 and "Parameter set cannot be resolved" in error_text(response), other
    response = exo_client.invoke("Get-Mailbox", {"RecipientPreviewFilter": "Department -eq 'Sales'"})
    assert response.status_code == 400 and "ParameterBindingException" in error_text(response)


# -- 6. more application roles -----------------------------------------------------------------------


def test_more_application_roles_can_be_assigned(exo, exo_client):
    roles = {row["Name"]: row["RoleType"] for row in exo_client.list_all("Get-ManagementRole")[0]}
    added = ["Application MailboxFolder.Read", "Application MailboxFolder.ReadWrite", "Application MailboxItem.Read",
             "Application MailboxItem.ReadWrite", "Application MailboxItem.Export", "Application MailboxItem.ImportExport",
             "Application SMTP.SendAsApp", "Application MailboxConfigItem.Read", "Application MailboxConfigItem.ReadWrite"]
    assert all(roles[name] == "ApplicationRole" for name in added)
    pointer = new_pointer(exo_client, org(exo)["entra_service_principals"]["mse"])
    row = exo_client.call("New-ManagementRoleAssignment", {"App": pointer["Identity"], "Role": "Application MailboxItem.Export",
                                                           "Name": "export"})["value"][0]
    assert row["Role"] == "Application MailboxItem.Export"


# -- 7. writes applied before a dropped or failed answer ------------------------------------------


@pytest.mark.parametrize("kind", [{"kind": "drop"}, {"kind": "status", "status": 503}])
def test_writes_happen_although_the_answer_is_lost(exo, exo_client, kind):
    entra = org(exo)["entra_service_principals"]
    mse = entra["mse"]

    def lost(cmdlet, parameters):
        exo.control.add_faults(dict(kind, where="invoke", cmdlet=cmdlet, count=1, after=True))
        if kind["kind"] == "drop":
            with pytest.raises(requests.ConnectionError):
                exo_client.invoke(cmdlet, parameters)
        else:
            assert exo_client.invoke(cmdlet, parameters).status_code == 503

    lost("New-ServicePrincipal", {"AppId": mse["app_id"], "ObjectId": mse["object_id"]})
    assert mse["app_id"] in [p["AppId"] for p in exo_client.call("Get-ServicePrincipal")["value"]]
    lost("New-ManagementRoleAssignment", {"App": mse["object_id"], "Role": ROLE, "Name": "mse-ews"})
    assert exo_client.call("Get-ManagementRoleAssignment", {"Identity": "mse-ews"})["value"][0]["Role"] == ROLE
    lost("Set-OrganizationConfig", {"EwsAllowedAppIDs": "%s,%s" % (entra["backup"]["app_id"], mse["app_id"])})
    assert org(exo)["ews_allowed_app_ids"] == [entra["backup"]["app_id"], mse["app_id"]]
    # The retry sees what a retry sees: the objects exist already.
    response = exo_client.invoke("New-ServicePrincipal", {"AppId": mse["app_id"], "ObjectId": mse["object_id"]})
    assert response.status_code == 400 and "already exists" in error_text(response)
    response = exo_client.invoke("New-ManagementRoleAssignment", {"App": mse["object_id"], "Role": ROLE, "Name": "mse-ews"})
    assert response.status_code == 400 and "already exists" in error_text(response)


def test_no_role_app_cannot_touch_the_new_cmdlets(exo):
    response, _raw = EmulatorClient(exo.info, app="no_role").invoke_raw("Get-Recipient",
                                                                        {"RecipientPreviewFilter": "Department -eq 'x'"})
    assert response.status_code == 403
