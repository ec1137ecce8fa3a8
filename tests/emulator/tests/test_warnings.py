"""Warning texts follow Accept-Language; an existing grant answers a warning, nothing or an error."""
from __future__ import annotations

import pytest

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def _target(client, position=12):
    return client.call("Get-Mailbox", {"ResultSize": position + 1}, select=["Guid"])["value"][position]["Guid"]


@pytest.mark.parametrize("accept_language,english", [
    ("en-US", True), ("en-GB,en;q=0.8", True), ("fr-FR;q=0.4, en;q=0.9", True),
    (None, False), ("de-DE", False), ("fr-FR,en;q=0.5", False),
])
def test_warning_language(exo_client, accept_language, english):
    target = _target(exo_client)
    grant = {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]}
    headers = {"Accept-Language": accept_language}
    exo_client.call("Add-MailboxPermission", grant, headers=headers)
    present = exo_client.call("Add-MailboxPermission", grant, headers=headers)["@adminapi.warnings"][0]
    exo_client.call("Remove-MailboxPermission", grant, headers=headers)
    absent = exo_client.call("Remove-MailboxPermission", grant, headers=headers)["@adminapi.warnings"][0]
    assert ("already present" in present) is english
    assert ("doesn't exist" in absent) is english
    assert present != absent and target not in present  # both name the object by its distinguished name


def test_existing_grant_answers(exo, exo_client):
    target = _target(exo_client)
    grant = {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"]}
    exo_client.call("Add-MailboxPermission", grant)
    before = exo.control.acl(target)["acl"]
    assert exo_client.call("Add-MailboxPermission", grant)["@adminapi.warnings"]
    exo.control.config(existing_grant_answer="silent")
    silent = exo_client.call("Add-MailboxPermission", grant)
    assert silent["value"] == [] and silent["@adminapi.warnings"] == []
    exo.control.config(existing_grant_answer="error")
    error = exo_client.invoke("Add-MailboxPermission", grant)
    assert error.status_code == 400
    assert "ACEAlreadyExistsException" in error.json()["error"]["details"][0]["message"]
    assert exo.control.acl(target)["acl"] == before
    with pytest.raises(Exception, match="existing_grant_answer must be one of"):
        exo.control.config(existing_grant_answer="explode")
