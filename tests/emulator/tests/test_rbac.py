"""An app whose Exchange role can read but not write (office-docs-powershell #7970)."""
from __future__ import annotations

from emulator.client import EmulatorClient

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def test_read_only_app_reads(exo):
    client = EmulatorClient(exo.info, app="read_only")
    assert client.call("Get-Mailbox", {"ResultSize": 2})["value"]
    assert client.call("Get-MailboxPermission", {"Identity": "svc-mse"})["value"]


def test_read_only_app_writes_are_401_not_allowed_and_change_nothing(exo):
    client = EmulatorClient(exo.info, app="read_only")
    target = client.call("Get-Mailbox", {"ResultSize": 5}, select=["Guid"])["value"][4]["Guid"]
    before = exo.control.acl(target)["acl"]
    for cmdlet in ("Add-MailboxPermission", "Remove-MailboxPermission"):
        response = client.invoke(cmdlet, {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]})
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "Unauthorized" and error["message"] == "User is not allowed to call %s" % cmdlet
        assert error["innererror"]["type"] == "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
        assert "invalid_token" not in response.headers["WWW-Authenticate"]
        assert "not allowed" in response.headers["x-ms-diagnostics"]
    assert exo.control.acl(target)["acl"] == before
    # a new token does not help: this is a role problem, not an expired token
    renewed = client.invoke("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]},
                            token=client.token(renew=True))
    assert renewed.status_code == 401 and exo.control.stats()["not_allowed"] == 3


def test_read_only_app_in_a_batch(exo):
    client = EmulatorClient(exo.info, app="read_only")
    response = client.batch([("r", "Get-MailboxPermission", {"Identity": "svc-mse"}),
                             ("w", "Add-MailboxPermission", {"Identity": "svc-mse", "User": SVC, "AccessRights": "FullAccess"})])
    answers = {item["id"]: item for item in response.json()["responses"]}
    assert answers["r"]["status"] == 200
    assert answers["w"]["status"] == 401
    assert answers["w"]["body"]["error"]["message"] == "User is not allowed to call Add-MailboxPermission"


def test_no_role_sub_request_is_403_without_body(exo):
    client = EmulatorClient(exo.info, app="no_role")
    item = client.batch([("x", "Get-Mailbox", {"ResultSize": 1})]).json()["responses"][0]
    assert item["status"] == 403 and "body" not in item and "no role" in item["headers"]["x-ms-diagnostics"]
