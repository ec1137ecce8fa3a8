"""The sink listeners: they record who talks to them (names only, never values)."""
from __future__ import annotations

import json

import requests

pytest_plugins = ["emulator.fixtures"]


def test_sink_records_requests_without_values(exo, exo_client):
    info = exo.info
    secret = info["apps"]["secret"]["client_secret"]
    token = exo_client.token()
    https = requests.post(info["sink_https_url"] + "/tenant/oauth2/v2.0/token?x=1", verify=info["ca_path"], timeout=10,
                          data={"grant_type": "client_credentials", "client_secret": secret})
    plain = requests.post(info["sink_http_url"] + "/adminapi/beta/t/InvokeCommand", timeout=10,
                          json={"CmdletInput": {"CmdletName": "Get-Mailbox"}}, headers={"Authorization": "Bearer " + token})
    assert https.json() == {"value": []} and plain.json() == {"value": []}
    first, second = exo.control.sink_requests()
    assert first["listener"] == "https" and first["method"] == "POST" and first["path"] == "/tenant/oauth2/v2.0/token"
    assert first["client_secret"] and not first["authorization"] and first["query_names"] == ["x"]
    assert second["listener"] == "http" and second["authorization"] and not second["client_secret"]
    assert "authorization" in second["header_names"] and "content-type" in second["header_names"]
    recorded = json.dumps(exo.control.sink_requests())
    assert secret not in recorded and token not in recorded
    exo.control.clear_sink()
    assert exo.control.sink_requests() == []


def test_following_a_foreign_next_link_lands_in_the_sink(exo, exo_client):
    exo.control.add_faults({"kind": "nextlink", "target": "foreign", "where": "invoke"})
    link = exo_client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=10)["@odata.nextLink"]
    assert exo_client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, url=link) == {"value": []}
    (record,) = exo.control.sink_requests()
    assert record["authorization"] and record["path"].endswith("/InvokeCommand")  # a naive client leaks its token
    exo.control.reset()
    assert exo.control.sink_requests() == []


def test_a_token_redirect_followed_naively_sends_the_secret_to_the_sink(exo, exo_client):
    exo.control.add_faults({"kind": "redirect", "where": "token", "status": 307})
    response = exo_client.token_response()  # requests follows a 307 with the same body
    assert response.json() == {"value": []}
    (record,) = exo.control.sink_requests()
    assert record["client_secret"] and record["listener"] == "https"
