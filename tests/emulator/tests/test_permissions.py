"""Get-, Add- and Remove-MailboxPermission."""
from __future__ import annotations

import time

import pytest

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def _mailboxes(client):
    return client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, select=["Guid", "Identity"])[0]


def _rows(client, identity, **extra):
    return client.call("Get-MailboxPermission", dict(Identity=identity, **extra))["value"]


def _granted(rows, user):
    return [r for r in rows if r["User"].lower() == user.lower() and "FullAccess" in r["AccessRights"]
            and not r["Deny"] and not r["IsInherited"]]


def test_default_rows(exo_client):
    mailboxes = _mailboxes(exo_client)
    users = set()
    for mailbox in mailboxes:
        rows = _rows(exo_client, mailbox["Guid"])
        self_row = rows[0]
        assert self_row["User"] == "NT AUTHORITY\\SELF" and self_row["AccessRights"] == ["FullAccess", "ReadPermission"]
        assert not self_row["IsInherited"] and not self_row["Deny"] and self_row["InheritanceType"] == "All"
        assert self_row["Identity"] == mailbox["Identity"]
        assert any(r["User"] == "NAMPR01A001\\Administrator" and r["IsInherited"] and r["Deny"] for r in rows)
        assert any(r["User"] == "NAMPR01A001\\Domain Admins" and r["IsInherited"] for r in rows)
        users.update(r["User"] for r in rows if not r["IsInherited"])
    assert "Helpdesk Team" in users
    assert any(user.startswith("S-1-5-21-") for user in users)
    assert "Svc-MSE@contoso.onmicrosoft.com" in users  # stored case, not the case we ask with
    assert any("@" in user and user != "Svc-MSE@contoso.onmicrosoft.com" for user in users)


def test_user_parameter_filters_rows(exo_client):
    rows = _rows(exo_client, "svc-mse", User="NT AUTHORITY\\SELF")
    assert [r["User"] for r in rows] == ["NT AUTHORITY\\SELF"]
    assert _rows(exo_client, "svc-mse", User="mailuser1") == []
    response = exo_client.invoke("Get-MailboxPermission", {"Identity": "svc-mse", "User": "ghost@contoso.onmicrosoft.com"})
    assert response.status_code == 400 and "ManagementObjectNotFoundException" in response.text


def test_add_records_automapping_and_warns_when_present(exo, exo_client):
    target = _mailboxes(exo_client)[5]["Guid"]
    params = {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"], "InheritanceType": "All",
              "AutoMapping": False, "Confirm": False}
    data = exo_client.call("Add-MailboxPermission", params)
    assert data["@adminapi.warnings"] == []
    row = data["value"][0]
    assert row["User"] == "Svc-MSE@contoso.onmicrosoft.com" and row["AccessRights"] == ["FullAccess"]
    assert not row["IsInherited"] and not row["Deny"]
    assert _granted(_rows(exo_client, target, User=SVC), SVC)
    acl = exo.control.acl(target)["acl"]
    assert [r["AutoMapping"] for r in acl if r["User"] == "Svc-MSE@contoso.onmicrosoft.com"] == [False]
    again = exo_client.call("Add-MailboxPermission", dict(params, User="SVC-MSE"))
    assert again["value"] == []
    warning = again["@adminapi.warnings"][0]
    assert warning.startswith("WARNING: An existing permission entry was found for user: svc-mse.")
    assert "already present" in warning
    other = _mailboxes(exo_client)[6]["Guid"]
    exo_client.call("Add-MailboxPermission", {"Identity": other, "User": SVC, "AccessRights": "FullAccess"})
    assert [r["AutoMapping"] for r in exo.control.acl(other)["acl"] if r["User"].lower() == SVC] == [True]


def test_add_merges_rights_into_existing_ace_and_groups_are_trustees(exo, exo_client):
    target = _mailboxes(exo_client)[7]["Guid"]
    exo.control.grant(target, SVC, access_rights=["ReadPermission"])
    row = exo_client.call("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})["value"][0]
    assert row["AccessRights"] == ["ReadPermission", "FullAccess"]
    group = exo_client.call("Add-MailboxPermission", {"Identity": target, "User": "sec-group", "AccessRights": ["FullAccess"]})
    assert group["value"][0]["User"] == "sec-group"
    contact = exo_client.invoke("Add-MailboxPermission", {"Identity": target, "User": "johnpartner",
                                                          "AccessRights": ["FullAccess"]})
    assert contact.status_code == 400 and "security principal" in contact.text


def test_remove_and_absent_warning(exo, exo_client):
    target = _mailboxes(exo_client)[8]["Guid"]
    params = {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"], "InheritanceType": "All", "Confirm": False}
    exo_client.call("Add-MailboxPermission", params)
    removed = exo_client.call("Remove-MailboxPermission", params)
    assert removed["value"] == [] and removed["@adminapi.warnings"] == []
    assert _rows(exo_client, target, User=SVC) == []
    again = exo_client.call("Remove-MailboxPermission", params)
    assert "because the ACE doesn't exist on the object" in again["@adminapi.warnings"][0]
    before = _rows(exo_client, target)
    exo_client.call("Remove-MailboxPermission", {"Identity": target, "User": "NAMPR01A001\\Administrator",
                                                 "AccessRights": ["FullAccess"], "Confirm": False})
    assert _rows(exo_client, target) == before  # inherited rows stay


def test_deny_rows_are_not_grants_and_remove_leaves_them(exo, exo_client):
    target = _mailboxes(exo_client)[9]["Guid"]
    exo.control.set_acl(target, user=SVC, access_rights=["FullAccess"], deny=True)
    assert not _granted(_rows(exo_client, target, User=SVC), SVC)
    warned = exo_client.call("Remove-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})
    assert warned["@adminapi.warnings"]
    assert [r["Deny"] for r in _rows(exo_client, target, User=SVC)] == [True]
    exo_client.call("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})
    assert sorted(r["Deny"] for r in _rows(exo_client, target, User=SVC)) == [False, True]


def test_not_found_is_400_for_permission_cmdlets(exo_client):
    for cmdlet in ("Get-MailboxPermission", "Add-MailboxPermission", "Remove-MailboxPermission"):
        params = {"Identity": "ghost@contoso.onmicrosoft.com", "User": SVC}
        if cmdlet != "Get-MailboxPermission":
            params["AccessRights"] = ["FullAccess"]
        response = exo_client.invoke(cmdlet, params)
        assert response.status_code == 400, cmdlet
        error = response.json()["error"]
        assert error["code"] == "BadRequest"
        assert error["details"][0]["message"].startswith(
            "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be "
            "performed because object 'ghost@contoso.onmicrosoft.com' couldn't be found")
    response = exo_client.invoke("Add-MailboxPermission", {"Identity": "svc-mse", "User": "ghost",
                                                           "AccessRights": ["FullAccess"]})
    assert response.status_code == 400 and "object 'ghost'" in response.text


@pytest.mark.parametrize("params,text", [
    ({"Identity": "svc-mse", "User": SVC, "AccessRights": ["Foo"]}, "Unable to match the identifier name Foo"),
    ({"Identity": "svc-mse", "User": SVC, "AccessRights": ["FullAccess"], "Colour": "red"},
     "A parameter cannot be found that matches parameter name 'Colour'."),
    ({"Identity": "svc-mse", "AccessRights": ["FullAccess"]}, "missing mandatory parameters: User"),
    ({"Identity": "svc-mse", "User": SVC, "AccessRights": ["FullAccess"], "InheritanceType": "Everything"},
     "Unable to match the identifier name Everything"),
    ({"Identity": ["a", "b"], "User": SVC, "AccessRights": ["FullAccess"]}, "System.Object[]"),
])
def test_bad_parameters(exo_client, params, text):
    response = exo_client.invoke("Add-MailboxPermission", params)
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]["message"]
    assert detail.split("|")[1] == "System.Management.Automation.ParameterBindingException"
    assert text in detail


def test_ace_limit(exo, exo_client):
    target = _mailboxes(exo_client)[10]["Guid"]
    count = len(exo.control.acl(target)["acl"])
    exo.control.set_acl(target, rows=[{"user": "S-1-5-21-1-2-3-%d" % i} for i in range(500 - count)])
    response = exo_client.invoke("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})
    assert response.status_code == 400 and "maximum of 500" in response.text


def test_replication_delay(exo, exo_client):
    new = exo.control.add_mailboxes(mailboxes=[{"upn": "fresh.hire@contoso.onmicrosoft.com"}], replication_delay=1.0)[0]
    assert exo_client.call("Get-Mailbox", {"Identity": new["Guid"]})["value"][0]["UserPrincipalName"] == \
        "fresh.hire@contoso.onmicrosoft.com"
    assert exo_client.invoke("Get-MailboxPermission", {"Identity": new["Guid"]}).status_code == 400
    response = exo_client.invoke("Add-MailboxPermission", {"Identity": new["Guid"], "User": SVC, "AccessRights": ["FullAccess"]})
    assert response.status_code == 400 and "ManagementObjectNotFoundException" in response.text
    time.sleep(1.1)
    assert exo_client.invoke("Add-MailboxPermission", {"Identity": new["Guid"], "User": SVC,
                                                       "AccessRights": ["FullAccess"]}).status_code == 200


def test_reset_restores_seeded_acls(exo, exo_client):
    target = _mailboxes(exo_client)[11]["Guid"]
    before = _rows(exo_client, target)
    exo_client.call("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})
    exo.control.add_mailboxes(3)
    assert _rows(exo_client, target) != before
    result = exo.control.reset()
    assert result["seconds"] < 1
    assert _rows(exo_client, target) == before
    assert len(_mailboxes(exo_client)) == 250
