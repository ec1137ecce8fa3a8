"""$batch: the 10 cap, per-request status, 429 inside 200, parallel latency."""
from __future__ import annotations

import time

pytest_plugins = ["emulator.fixtures"]

SVC = "svc-mse@contoso.onmicrosoft.com"


def _guids(client, count):
    return [m["Guid"] for m in client.call("Get-Mailbox", {"ResultSize": count})["value"]]


def test_batch_of_mixed_results(exo, exo_client):
    guids = _guids(exo_client, 3)
    calls = [("1", "Get-MailboxPermission", {"Identity": guids[1], "User": SVC}),
             ("2", "Add-MailboxPermission", {"Identity": guids[2], "User": SVC, "AccessRights": ["FullAccess"],
                                             "AutoMapping": False}),
             ("3", "Get-MailboxPermission", {"Identity": "ghost"}),
             ("4", "Get-Mailbox", {"Identity": "ghost"}),
             ("5", "Set-Mailbox", {}),
             ("6", "Add-MailboxPermission", {"Identity": guids[2], "User": SVC, "AccessRights": ["Foo"]})]
    for absolute in (True, False):
        exo.control.reset()
        response = exo_client.batch(calls, absolute=absolute)
        assert response.status_code == 200
        answers = {item["id"]: item for item in response.json()["responses"]}
        assert [item["id"] for item in response.json()["responses"]] == ["1", "2", "3", "4", "5", "6"]
        expected = {"1": 200, "2": 200, "3": 400, "4": 404, "5": 403, "6": 400}
        assert {key: item["status"] for key, item in answers.items()} == expected
        assert answers["2"]["body"]["value"][0]["User"] == "Svc-MSE@contoso.onmicrosoft.com"
        assert "ManagementObjectNotFoundException" in answers["3"]["body"]["error"]["details"][0]["message"]
        assert "body" not in answers["5"] and answers["5"]["headers"]["x-ms-diagnostics"]
    stats = exo.control.stats()
    assert stats["batches"] == 1 and stats["sub_requests"] == 6 and stats["by_cmdlet"]["Add-MailboxPermission"] == 2


def test_more_than_ten_is_400(exo_client):
    calls = [(str(i), "Get-Mailbox", {"ResultSize": 1}) for i in range(11)]
    response = exo_client.batch(calls)
    assert response.status_code == 400 and "maximum is 10" in response.text
    assert exo_client.batch(calls[:10]).status_code == 200


def test_sub_request_429_inside_200(exo, exo_client):
    exo.control.config(write_rate=1, write_burst=3)
    guids = _guids(exo_client, 8)
    calls = [(str(i), "Add-MailboxPermission", {"Identity": guid, "User": SVC, "AccessRights": ["FullAccess"]})
             for i, guid in enumerate(guids)]
    response = exo_client.batch(calls)
    assert response.status_code == 200
    statuses = [item["status"] for item in response.json()["responses"]]
    assert statuses.count(200) == 3 and statuses.count(429) == 5
    throttled = [item for item in response.json()["responses"] if item["status"] == 429]
    assert all(0 < float(item["headers"]["Retry-After"]) <= 1 for item in throttled)
    assert exo.control.stats()["throttled_sub_requests"] == 5


def test_batch_latency_is_the_slowest_sub_request(exo, exo_client):
    exo.control.config(latency_ms=200, latency_ms_max=250)
    calls = [(str(i), "Get-Mailbox", {"ResultSize": 1}) for i in range(10)]
    started = time.monotonic()
    assert exo_client.batch(calls).status_code == 200
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.6
