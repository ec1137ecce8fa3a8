"""Failures in a 200 (@adminapi.errors), transient server exceptions, the concurrency text,
odd Retry-After values and the routing error of a batched mailbox cmdlet."""
from __future__ import annotations

import pytest

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def _target(client, position=6):
    return client.call("Get-Mailbox", {"ResultSize": position + 1}, select=["Guid"])["value"][position]["Guid"]


def _grant(target):
    return {"Identity": target, "User": SVC, "AccessRights": ["FullAccess"], "AutoMapping": False}


def test_adminapi_errors_in_a_200_direct_and_the_change_is_not_applied(exo, exo_client):
    target = _target(exo_client)
    exo.control.add_faults({"kind": "adminapi_error", "cmdlet": "Add-MailboxPermission", "count": 1})
    data = exo_client.call("Add-MailboxPermission", _grant(target))
    assert data["value"] == [] and data["@adminapi.warnings"] == []
    assert len(data["@adminapi.errors"]) == 1 and "ADOperationException" in data["@adminapi.errors"][0]
    assert not [row for row in exo.control.acl(target)["acl"] if row["User"].lower() == SVC]
    again = exo_client.call("Add-MailboxPermission", _grant(target))
    assert "@adminapi.errors" not in again and again["value"][0]["User"].lower() == SVC


def test_adminapi_errors_in_a_sub_response(exo, exo_client):
    target = _target(exo_client)
    exo.control.add_faults({"kind": "adminapi_error", "where": "sub", "error": ["first problem", "second problem"]})
    items = exo_client.batch([("1", "Add-MailboxPermission", _grant(target))]).json()["responses"]
    assert items[0]["status"] == 200 and items[0]["body"]["@adminapi.errors"] == ["first problem", "second problem"]
    assert not [row for row in exo.control.acl(target)["acl"] if row["User"].lower() == SVC]


@pytest.mark.parametrize("exception,full", [
    ("DCOverloadedException", "Microsoft.Exchange.Data.Directory.DCOverloadedException"),
    ("SuitabilityDirectoryException", "Microsoft.Exchange.Data.Directory.SuitabilityDirectoryException"),
    ("ServerInMMException", "Microsoft.Exchange.Data.Directory.ServerInMMException"),
    ("ADServerSettingsChangedException", "Microsoft.Exchange.Data.Directory.ADServerSettingsChangedException"),
    ("StorageTransientException", "Microsoft.Exchange.Data.Storage.StorageTransientException"),
])
def test_transient_exceptions(exo, exo_client, exception, full):
    rule = {"kind": "status", "status": 500, "exception": exception}
    exo.control.add_faults(dict(rule, where="invoke"), dict(rule, where="sub"))
    direct = exo_client.invoke("Get-Mailbox", {"ResultSize": 1})
    assert direct.status_code == 500
    detail = direct.json()["error"]["details"][0]["message"]
    assert detail.split("|")[1] == full and exception in detail
    sub = exo_client.batch([("1", "Get-Mailbox", {"ResultSize": 1})]).json()["responses"][0]
    assert sub["status"] == 500 and exception in sub["body"]["error"]["details"][0]["message"]
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 200


@pytest.mark.parametrize("status", [429, 503, 400, 500])
def test_concurrency_text_with_any_status(exo, exo_client, status):
    exo.control.add_faults({"kind": "concurrency", "status": status, "retry_after": 2.5})
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 1})
    assert response.status_code == status and response.headers["Retry-After"] == "2.5"
    assert response.text.startswith("You have reached the maximum number of concurrent requests per tenant")
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("value,header", [("NaN", "NaN"), ("Infinity", "Infinity"), (-5, "-5"), ("1e9", "1e9"),
                                          (0.25, "0.25"), (3, "3")])
def test_odd_retry_after_values(exo, exo_client, value, header):
    rule = {"kind": "throttle", "retry_after": value}
    exo.control.add_faults(dict(rule, where="invoke"), dict(rule, where="sub"))
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).headers["Retry-After"] == header
    sub = exo_client.batch([("1", "Get-Mailbox", {"ResultSize": 1})]).json()["responses"][0]
    assert sub["status"] == 429 and sub["headers"]["Retry-After"] == header


def test_batched_mailbox_permission_routing_error_and_direct_fallback(exo, exo_client):
    exo.control.add_faults({"kind": "routing_error", "cmdlet": "Get-MailboxPermission", "probability": 1})
    calls = [("p", "Get-MailboxPermission", {"Identity": "svc-mse"}), ("m", "Get-Mailbox", {"ResultSize": 1})]
    answers = {item["id"]: item for item in exo_client.batch(calls).json()["responses"]}
    assert answers["m"]["status"] == 200
    assert answers["p"]["status"] == 400
    assert answers["p"]["body"]["error"]["details"][0]["message"].startswith(
        "|Microsoft.Exchange.Configuration.Tasks.CmdletProxyNotAvailableException|Cmdlet needs proxy.")
    assert exo_client.call("Get-MailboxPermission", {"Identity": "svc-mse"})["value"]  # the direct call works
