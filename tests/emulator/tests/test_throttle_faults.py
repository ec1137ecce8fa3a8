"""Throttle model, latency and fault injection."""
from __future__ import annotations

import threading
import time

import pytest
import requests

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def test_writes_are_throttled_before_reads(exo, exo_client):
    exo.control.config(read_rate=50, read_burst=20, write_rate=2, write_burst=3)
    guid = exo_client.call("Get-Mailbox", {"ResultSize": 1})["value"][0]["Guid"]
    writes = [exo_client.invoke("Add-MailboxPermission", {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]})
              for _index in range(6)]
    reads = [exo_client.invoke("Get-MailboxPermission", {"Identity": guid}) for _index in range(6)]
    assert [r.status_code for r in writes].count(429) >= 2
    assert all(r.status_code == 200 for r in reads)
    throttled = next(r for r in writes if r.status_code == 429)
    assert 0 < float(throttled.headers["Retry-After"]) <= 0.5  # decimal seconds until the next write token
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    exo.control.config(read_rate=1, read_burst=1)
    assert exo_client.invoke("Get-MailboxPermission", {"Identity": guid}).status_code == 200
    response = exo_client.invoke("Get-MailboxPermission", {"Identity": guid})
    assert response.status_code == 429 and 0.9 < float(response.headers["Retry-After"]) <= 1.0
    exo.control.config(write_rate=0.1, write_burst=1)
    exo_client.invoke("Remove-MailboxPermission", {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]})
    response = exo_client.invoke("Remove-MailboxPermission", {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]})
    assert response.status_code == 429 and 9 < float(response.headers["Retry-After"]) <= 10
    exo.control.config(retry_after_style="integer")
    response = exo_client.invoke("Remove-MailboxPermission", {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]})
    assert response.status_code == 429 and response.headers["Retry-After"] == "10"


def test_concurrency_cap(exo, exo_client):
    exo.control.config(max_concurrency=2, latency_ms=400)
    token = exo_client.token()
    results = []

    def one():
        session = requests.Session()
        results.append(session.post(exo_client.invoke_url, json=exo_client.body("Get-Mailbox", {"ResultSize": 1}),
                                    headers=exo_client.headers(token), verify=exo_client.verify, timeout=30))

    threads = [threading.Thread(target=one) for _index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rejected = [r for r in results if r.status_code == 429]
    assert len(rejected) == 4 and [r.status_code for r in results].count(200) == 2
    # ExoHelper retries on text starting like this (Invoke-ExoCommand)
    assert rejected[0].text.startswith("You have reached the maximum number of concurrent requests per tenant. Please wait "
                                       "and try again")
    assert rejected[0].headers["Retry-After"] == "1"
    stats = exo.control.stats()
    assert stats["concurrency_rejections"] == 4 and stats["concurrency_peak"] == 2


def test_latency_range(exo, exo_client):
    exo.control.config(latency_ms=100, latency_ms_max=150)
    times = []
    for _index in range(4):
        started = time.monotonic()
        exo_client.call("Get-Mailbox", {"ResultSize": 1})
        times.append(time.monotonic() - started)
    assert min(times) >= 0.1 and max(times) < 0.4


def test_status_fault_with_count_and_cmdlet(exo, exo_client):
    exo.control.add_faults({"kind": "status", "status": 503, "count": 2, "cmdlet": "Add-MailboxPermission"})
    guid = exo_client.call("Get-Mailbox", {"ResultSize": 1})["value"][0]["Guid"]
    params = {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]}
    first = exo_client.invoke("Add-MailboxPermission", params)
    assert first.status_code == 503
    assert "Microsoft.Exchange.Data.Storage.StorageTransientException" in first.json()["error"]["details"][0]["message"]
    assert exo_client.invoke("Get-MailboxPermission", {"Identity": guid}).status_code == 200
    assert exo_client.invoke("Add-MailboxPermission", params).status_code == 503
    assert exo_client.invoke("Add-MailboxPermission", params).status_code == 200
    assert exo.control.faults() == []
    exo.control.add_faults({"kind": "status", "status": 500, "count": 1, "after": True})
    assert exo_client.invoke("Remove-MailboxPermission", params).status_code == 500
    assert exo_client.call("Get-MailboxPermission", {"Identity": guid, "User": SVC})["value"] == []  # it did happen


def test_skip_lets_the_first_matching_calls_through(exo, exo_client):
    exo.control.add_faults({"kind": "status", "status": 503, "skip": 2, "count": 1, "cmdlet": "Get-Mailbox"})
    assert exo_client.invoke("Get-Recipient", {"ResultSize": 1}).status_code == 200  # not matched, not counted
    assert [exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code for dummy in range(4)] == [200, 200, 503, 200]
    assert exo.control.faults() == []


def test_drop_fault(exo, exo_client):
    exo.control.add_faults({"kind": "drop", "count": 2})
    for _index in range(2):
        with pytest.raises(requests.ConnectionError):
            exo_client.invoke("Get-Mailbox", {"ResultSize": 1})
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 200
    assert exo.control.stats()["dropped"] == 2


def test_slow_fault(exo, exo_client):
    exo.control.add_faults({"kind": "slow", "delay_ms": 300, "count": 1})
    started = time.monotonic()
    exo_client.call("Get-Mailbox", {"ResultSize": 1})
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    exo_client.call("Get-Mailbox", {"ResultSize": 1})
    assert time.monotonic() - started < 0.25


def test_throttle_fault_and_probability(exo, exo_client):
    exo.control.add_faults({"kind": "throttle", "count": 2, "retry_after": 3})
    responses = [exo_client.invoke("Get-Mailbox", {"ResultSize": 1}) for _index in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "3"
    exo.control.add_faults({"kind": "throttle", "probability": 0.5})
    statuses = [exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code for _index in range(60)]
    assert 5 < statuses.count(429) < 55
    exo.control.clear_faults()
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 200


def test_where_batch_and_sub(exo, exo_client):
    calls = [(str(i), "Get-Mailbox", {"ResultSize": 1}) for i in range(4)]
    exo.control.add_faults({"kind": "status", "status": 503, "count": 1, "where": "batch"})
    assert exo_client.batch(calls).status_code == 503
    exo.control.add_faults({"kind": "throttle", "count": 2, "where": "sub"})
    assert exo_client.invoke("Get-Mailbox", {"ResultSize": 1}).status_code == 200
    response = exo_client.batch(calls)
    assert [item["status"] for item in response.json()["responses"]] == [429, 429, 200, 200]
    exo.control.add_faults({"kind": "drop", "count": 1, "where": "sub"})
    with pytest.raises(requests.ConnectionError):
        exo_client.batch(calls)


def test_token_endpoint_fault(exo, exo_client):
    exo.control.add_faults({"kind": "status", "status": 503, "where": "token"})
    assert exo_client.token_response().status_code == 503
    assert exo_client.token_response().status_code == 200


def test_bad_fault_rule_is_rejected(exo):
    with pytest.raises(Exception, match="unknown fault kind"):
        exo.control.add_faults({"kind": "explode"})
