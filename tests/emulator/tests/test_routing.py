"""Per-sub-request credentials, X-AnchorMailbox, the tenant in the path and the custom domain."""
from __future__ import annotations

import jwt
import pytest

from emulator.client import EmulatorClient

pytest_plugins = ["emulator.fixtures"]

SYSTEM = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
CALLS = [("a", "Get-Mailbox", {"ResultSize": 1}), ("b", "Get-Mailbox", {"ResultSize": 1})]


def _answers(response):
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["responses"]}


def test_sub_request_without_its_own_authorization_is_401_inside_200(exo_client):
    payload = exo_client.batch_payload(CALLS)
    del payload["requests"][1]["headers"]["Authorization"]
    response = exo_client.session.post(exo_client.batch_url, json=payload, headers=exo_client.headers(),
                                       verify=exo_client.verify, timeout=30)
    answers = _answers(response)
    assert answers["a"]["status"] == 200
    assert answers["b"]["status"] == 401 and "body" not in answers["b"]
    assert 'error="invalid_token"' in answers["b"]["headers"]["WWW-Authenticate"]


def test_sub_request_without_anchor_is_refused(exo, exo_client):
    answers = _answers(exo_client.batch(CALLS, sub_headers={"X-AnchorMailbox": None}))
    for answer in answers.values():
        assert answer["status"] == 400
        detail = answer["body"]["error"]["details"][0]["message"]
        assert "AnchorMailboxNotFoundException" in detail and "missing" in detail
    assert exo.control.stats()["anchor_rejections"] == 2


@pytest.mark.parametrize("anchor", [
    "APP:%s@{tenant_id}" % SYSTEM,
    "APP:%s@contoso.onmicrosoft.com" % SYSTEM,
    "UPN:%s@contoso.onmicrosoft.com" % SYSTEM,
    "UPN:SystemMailbox{8cc370d3-822a-4ab8-a926-bb94bd0641a9}@contoso.onmicrosoft.com",
    "UPN:mse-sync@contoso.com",
    "upn:SVC-MSE@CONTOSO.ONMICROSOFT.COM",
])
def test_accepted_anchors(exo, exo_client, anchor):
    anchor = anchor.replace("{tenant_id}", exo.info["tenant_id"])
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, headers={"X-AnchorMailbox": anchor}).status_code == 200
    answers = _answers(exo_client.batch(CALLS, sub_headers={"X-AnchorMailbox": anchor}))
    assert {answer["status"] for answer in answers.values()} == {200}


@pytest.mark.parametrize("anchor,reason", [
    (None, "missing"),
    ("APP:%s@contoso.com" % SYSTEM, "custom domain"),
    ("UPN:%s@contoso.com" % SYSTEM, "custom domain"),
    ("UPN:%s@{tenant_id}" % SYSTEM, "not this organization"),
    ("APP:%s@fabrikam.onmicrosoft.com" % SYSTEM, "not this organization"),
    ("APP:SystemMailbox{00000000-0000-0000-0000-000000000001}@contoso.onmicrosoft.com", "not a system mailbox"),
    ("UPN:ghost@contoso.com", "no mailbox"),
    ("UPN:mailuser1@contoso.onmicrosoft.com", "no mailbox"),
    ("SMTP:svc-mse@contoso.onmicrosoft.com", "not accepted"),
    ("svc-mse@contoso.onmicrosoft.com", "not accepted"),
])
def test_refused_anchors(exo, exo_client, anchor, reason):
    if anchor:
        anchor = anchor.replace("{tenant_id}", exo.info["tenant_id"])
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, headers={"X-AnchorMailbox": anchor})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]["message"]
    assert detail.split("|")[1] == "Microsoft.Exchange.HttpProxy.AnchorMailboxNotFoundException"
    assert reason in detail and reason in response.headers["x-ms-diagnostics"]


def test_tenant_in_the_path(exo, exo_client):
    for tenant in (exo.info["tenant_id"], "contoso.onmicrosoft.com", "CONTOSO.onmicrosoft.com"):
        assert EmulatorClient(exo.info, tenant=tenant).invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 200
    custom = EmulatorClient(exo.info, tenant="contoso.com")
    custom._token = exo_client.token()  # pylint: disable=protected-access
    response = custom.invoke("Get-Mailbox", {"ResultSize": 1})
    assert response.status_code == 401 and "custom domain" in response.headers["WWW-Authenticate"]
    assert custom.batch(CALLS).status_code == 401


def test_token_endpoint_accepts_every_verified_domain(exo):
    client = EmulatorClient(exo.info)
    for tenant in (exo.info["tenant_id"], "contoso.onmicrosoft.com", "contoso.com"):
        response = client.token_response(tenant=tenant)
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["tid"] == exo.info["tenant_id"]
    assert client.token_response(tenant="fabrikam.com").status_code == 400


def test_custom_domain_mailboxes_and_second_service_account(exo, exo_client):
    info = exo.info
    assert info["custom_domain"] == "contoso.com" and info["service_account_custom"] == "mse-sync@contoso.com"
    record = exo_client.call("Get-Mailbox", {"Identity": info["service_account_custom"]})["value"][0]
    assert record["UserPrincipalName"] == info["service_account_custom_stored"] == "MSE-Sync@contoso.com"
    assert "smtp:mse-sync@contoso.onmicrosoft.com" in record["EmailAddresses"]
    mailboxes, _w, _p = exo_client.list_all("Get-Mailbox", {"RecipientTypeDetails": "UserMailbox"},
                                            select=["UserPrincipalName"])
    custom = [m for m in mailboxes if m["UserPrincipalName"].lower().endswith("@contoso.com")]
    assert 0.25 < len(custom) / len(mailboxes) < 0.6
    granted = exo_client.call("Add-MailboxPermission", {"Identity": custom[3]["UserPrincipalName"],
                                                        "User": info["service_account_custom"], "AccessRights": "FullAccess"})
    assert granted["value"][0]["User"] == "MSE-Sync@contoso.com"
    assert info["anchors"]["app_tenant_id"] == "APP:%s@%s" % (SYSTEM, info["tenant_id"])
