"""401 and 403 answers of InvokeCommand."""
from __future__ import annotations

import time

import pytest
import requests

from emulator.client import EmulatorClient

pytest_plugins = ["emulator.fixtures"]


def test_no_role_is_403_with_nul_bytes_labelled_gzip(exo):
    client = EmulatorClient(exo.info, app="no_role")
    with pytest.raises(requests.exceptions.ContentDecodingError):
        client.invoke("Get-Mailbox", {"ResultSize": 1})
    response, raw = client.invoke_raw("Get-Mailbox", {"ResultSize": 1})
    assert response.status_code == 403 and response.headers["Content-Encoding"] == "gzip"
    assert raw and set(raw) == {0}
    assert "no role" in response.headers["x-ms-diagnostics"]


def test_unknown_cmdlet_is_403(exo_client):
    response, raw = exo_client.invoke_raw("Set-Mailbox", {"Identity": "svc-mse"})
    assert response.status_code == 403 and set(raw) == {0}
    assert "Set-Mailbox" in response.headers["x-ms-diagnostics"]


def test_no_consent_is_401(exo):
    client = EmulatorClient(exo.info, app="no_consent")
    response = client.invoke("Get-Mailbox", {"ResultSize": 1})
    assert response.status_code == 401
    assert "Exchange.ManageAsApp" in response.headers["WWW-Authenticate"]


def test_missing_and_garbage_tokens_are_401(exo_client):
    response = exo_client.session.post(exo_client.invoke_url, json=exo_client.body("Get-Mailbox"),
                                       verify=exo_client.verify)
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    assert exo_client.invoke("Get-Mailbox", token="not.a.jwt").status_code == 401


def test_expired_token_is_401(exo, exo_client):
    exo.control.config(token_lifetime=1)
    token = exo_client.token(renew=True)
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=token).status_code == 200
    time.sleep(1.3)
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=token)
    assert response.status_code == 401 and "expired" in response.headers["WWW-Authenticate"]


def test_revoked_tokens_are_401(exo, exo_client):
    token = exo_client.token(renew=True)
    exo.control.revoke_tokens()
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=token)
    assert response.status_code == 401 and "revoked" in response.headers["WWW-Authenticate"]
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=exo_client.token(renew=True)).status_code == 200
    exo.control.add_faults({"kind": "revoke_tokens"})
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 401


def test_token_for_another_audience_or_tenant_is_401(exo, exo_client):
    graph = exo_client.token_response(scope="https://graph.microsoft.com/.default").json()["access_token"]
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 1}, token=graph)
    assert response.status_code == 401 and "audience" in response.headers["WWW-Authenticate"]
    other = EmulatorClient(exo.info, tenant="fabrikam.onmicrosoft.com")
    assert other.invoke("Get-Mailbox", {"ResultSize": 1}, token=exo_client.token()).status_code == 401
    by_domain = EmulatorClient(exo.info, tenant="contoso.onmicrosoft.com")
    assert by_domain.invoke("Get-Mailbox", {"ResultSize": 1}, token=exo_client.token()).status_code == 200


def test_body_without_cmdlet_input_is_400(exo_client):
    response = exo_client.session.post(exo_client.invoke_url, json={"Cmdlet": "Get-Mailbox"}, headers=exo_client.headers(),
                                       verify=exo_client.verify, timeout=30)
    assert response.status_code == 400 and "ParameterBindingException" in response.text
