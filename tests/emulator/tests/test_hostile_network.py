"""Hostile-network fault rules: broken 200 bodies, next links and redirects to other hosts,
token endpoint failures, trickled bodies. The sink (test_sink.py) records who follows them."""
from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"
ONE = {"ResultSize": 1}


@pytest.mark.parametrize("mode", ["html", "truncated", "empty", "json_error", "value_not_list"])
def test_corrupt_direct_200(exo, exo_client, mode):
    exo.control.add_faults({"kind": "corrupt", "mode": mode, "where": "invoke"})
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 2}, select=["Guid"])
    assert response.status_code == 200
    if mode == "html":
        assert response.headers["Content-Type"].startswith("text/html") and "<html>" in response.text
    elif mode in ("truncated", "empty"):
        assert response.headers["Content-Type"].startswith("application/json")
        with pytest.raises(ValueError):
            response.json()
    elif mode == "json_error":
        assert set(response.json()) == {"error"}
    else:
        assert isinstance(response.json()["value"], dict)
    assert len(exo_client.call("Get-Mailbox", {"ResultSize": 2})["value"]) == 2  # one time only


def test_corrupt_write_happened_and_content_type_override(exo, exo_client):
    target = exo_client.call("Get-Mailbox", {"ResultSize": 4}, select=["Guid"])["value"][3]["Guid"]
    exo.control.add_faults({"kind": "corrupt", "mode": "truncated", "cmdlet": "Add-MailboxPermission"})
    response = exo_client.invoke("Add-MailboxPermission", {"Identity": target, "User": SVC, "AccessRights": "FullAccess"})
    assert response.status_code == 200
    assert [row for row in exo.control.acl(target)["acl"] if row["User"].lower() == SVC]  # the change did happen
    exo.control.add_faults({"kind": "corrupt", "content_type": "text/html", "where": "invoke"})
    labelled = exo_client.invoke("Get-Mailbox", ONE)
    assert labelled.headers["Content-Type"] == "text/html" and labelled.json()["value"]


def test_corrupt_sub_responses_and_missing_ids(exo, exo_client):
    calls = [(str(i), "Get-Mailbox", ONE) for i in range(4)]
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "where": "sub", "count": 1},
                           {"kind": "corrupt", "mode": "truncated", "where": "sub", "count": 1})
    items = exo_client.batch(calls).json()["responses"]
    assert "<html>" in items[0]["body"] and items[0]["headers"]["Content-Type"].startswith("text/html")
    assert isinstance(items[1]["body"], str)
    with pytest.raises(ValueError):
        json.loads(items[1]["body"])
    assert items[2]["body"]["value"]
    exo.control.add_faults({"kind": "corrupt", "mode": "missing_ids", "where": "batch", "missing": 2})
    assert [item["id"] for item in exo_client.batch(calls).json()["responses"]] == ["2", "3"]


def test_corrupt_outer_batch_html(exo, exo_client):
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "where": "batch"})
    response = exo_client.batch([("1", "Get-Mailbox", ONE)])
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("target,prefix_key", [("sink_https", "sink_https_url"), ("sink_http", "sink_http_url"),
                                               ("foreign", "foreign_url"), ("unresolvable", "unresolvable_url")])
def test_next_link_to_another_host(exo, exo_client, target, prefix_key):
    exo.control.add_faults({"kind": "nextlink", "target": target, "where": "invoke"})
    data = exo_client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=10, select=["Guid"])
    link = data["@odata.nextLink"]
    assert link.startswith(exo.info[prefix_key] + "/adminapi/beta/")
    assert "%24skiptoken=" in link and "%24select=Guid" in link
    exo.control.add_faults({"kind": "nextlink", "target": target, "where": "invoke"})
    one_page = exo_client.call("Get-Mailbox", {"Identity": "svc-mse"})
    assert one_page["@odata.nextLink"].startswith(exo.info[prefix_key])  # made up even where none was due


def test_next_link_that_never_ends(exo, exo_client):
    exo.control.add_faults({"kind": "nextlink", "target": "loop", "probability": 1})
    body = {"ResultSize": "Unlimited"}
    first = exo_client.call("Get-Mailbox", body, page_size=5, select=["Guid"])
    link = first["@odata.nextLink"]
    for _round in range(4):
        page = exo_client.call("Get-Mailbox", body, url=link, page_size=5)
        assert [m["Guid"] for m in page["value"]] == [m["Guid"] for m in first["value"]]
        link = page["@odata.nextLink"]
    exo.control.clear_faults()
    assert exo_client.call("Get-Mailbox", body, url=link, page_size=5)["@odata.nextLink"] != link


@pytest.mark.parametrize("where,status", [("invoke", 302), ("batch", 307), ("token", 307)])
def test_redirects_to_the_sink(exo, exo_client, where, status):
    exo.control.add_faults({"kind": "redirect", "status": status, "where": where, "target": "sink_https"})
    if where == "invoke":
        response = exo_client.session.post(exo_client.url(["Guid"]), json=exo_client.body("Get-Mailbox", ONE),
                                           headers=exo_client.headers(), verify=exo_client.verify, allow_redirects=False)
        expected_path = urlsplit(exo_client.invoke_url).path + "?%24select=Guid"
    elif where == "batch":
        response = exo_client.session.post(exo_client.batch_url, json=exo_client.batch_payload([("1", "Get-Mailbox", ONE)]),
                                           headers=exo_client.headers(), verify=exo_client.verify, allow_redirects=False)
        expected_path = urlsplit(exo_client.batch_url).path
    else:
        response = exo_client.session.post("%s/%s/oauth2/v2.0/token" % (exo.info["login_url"], exo.info["tenant_domain"]),
                                           data={"grant_type": "client_credentials"}, verify=exo_client.verify,
                                           allow_redirects=False)
        expected_path = "/%s/oauth2/v2.0/token" % exo.info["tenant_domain"]
    assert response.status_code == status
    assert response.headers["Location"] == exo.info["sink_https_url"] + expected_path
    assert exo.control.stats()["redirects"] == 1


def test_token_endpoint_faults(exo, exo_client):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "token", "count": 2})
    assert [exo_client.token_response().status_code for _i in range(3)] == [503, 503, 200]
    exo.control.add_faults({"kind": "drop", "where": "token"})
    with pytest.raises(requests.ConnectionError):
        exo_client.token_response()
    exo.control.add_faults({"kind": "corrupt", "mode": "html", "where": "token", "count": 2})
    html = [exo_client.token_response() for _i in range(2)]
    assert all(r.status_code == 200 and r.headers["Content-Type"].startswith("text/html") for r in html)
    assert "access_token" in exo_client.token_response().json()


def test_trickle_outlasts_a_deadline_without_tripping_the_read_timeout(exo, exo_client):
    exo.control.config(transfer_rate=0)
    size = len(exo_client.invoke("Get-Mailbox", {"ResultSize": 3}, select=["Guid"]).content)
    exo.control.add_faults({"kind": "trickle", "bytes": 64, "every_ms": 100, "where": "invoke"})
    started = time.monotonic()
    response = exo_client.invoke("Get-Mailbox", {"ResultSize": 3}, select=["Guid"], timeout=(5, 0.4))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and len(response.json()["value"]) == 3
    expected = (size // 64) * 0.1
    # every read waits 0.1 s (under the 0.4 s read timeout) but the whole answer takes longer than
    # a 0.8 s wall-clock deadline would allow
    assert elapsed >= expected * 0.9 and expected > 0.8
