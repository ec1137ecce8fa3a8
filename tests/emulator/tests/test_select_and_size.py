"""InvokeCommand?$select=... on direct calls, sub-requests and next links; page size sets page time."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

pytest_plugins = ["emulator.fixtures"]

FEW = ["Guid", "UserPrincipalName", "PrimarySmtpAddress", "RecipientTypeDetails"]


def test_select_on_a_direct_call(exo_client):
    record = exo_client.call("Get-Mailbox", {"Identity": "svc-mse"}, select=["guid", "UserPrincipalName", "Nope"])["value"][0]
    assert record == {"Guid@data.type": "System.Guid", "Guid@odata.type": "#Guid", "Guid": record["Guid"],
                      "UserPrincipalName": "Svc-MSE@contoso.onmicrosoft.com"}
    rows = exo_client.call("Get-MailboxPermission", {"Identity": "svc-mse"}, select=["User", "AccessRights"])["value"]
    assert rows and all(set(row) == {"User", "AccessRights"} for row in rows)


def test_next_link_keeps_the_selection(exo_client):
    data = exo_client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=40, select=FEW)
    link = data["@odata.nextLink"]
    assert parse_qs(urlsplit(link).query)["$select"] == [",".join(FEW)]
    items, _warnings, pages = exo_client.list_all("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=40, select=FEW)
    assert pages == 7 and len(items) == 250
    assert all(set(key for key in item if "@" not in key) == set(FEW) for item in items)


def test_select_on_sub_request_urls(exo_client):
    payload = exo_client.batch_payload([("1", "Get-Mailbox", {"ResultSize": 3}), ("2", "Get-Mailbox", {"ResultSize": 3})])
    payload["requests"][0]["url"] += "?$select=Alias"
    response = exo_client.session.post(exo_client.batch_url, json=payload, headers=exo_client.headers(),
                                       verify=exo_client.verify, timeout=30)
    answers = {item["id"]: item["body"]["value"] for item in response.json()["responses"]}
    assert [set(record) for record in answers["1"]] == [{"Alias"}] * 3
    assert len(answers["2"][0]) > 250


def test_page_size_sets_the_page_time(exo, exo_client):
    exo.control.add_mailboxes(750)
    started = time.monotonic()
    full = exo_client.invoke("Get-Mailbox", {"ResultSize": 1000})
    full_seconds = time.monotonic() - started
    started = time.monotonic()
    few = exo_client.invoke("Get-Mailbox", {"ResultSize": 1000}, select=FEW)
    few_seconds = time.monotonic() - started
    assert len(full.json()["value"]) == len(few.json()["value"]) == 1000
    assert len(full.content) > 20 * len(few.content)
    rate = exo.control.config()["transfer_rate"]
    assert len(full.content) / rate * 0.95 <= full_seconds < 3.0, (len(full.content), full_seconds)
    assert few_seconds * 8 < full_seconds, (few_seconds, full_seconds)
    exo.control.config(transfer_rate=0)
    started = time.monotonic()
    exo_client.invoke("Get-Mailbox", {"ResultSize": 1000})
    assert time.monotonic() - started < full_seconds / 2
