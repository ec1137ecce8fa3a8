"""Control API, CLI, big-tenant start time and load."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from emulator.client import EmulatorClient
from emulator.control import EmulatorProcess, read_info

pytest_plugins = ["emulator.fixtures"]

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_stats(exo, exo_client):
    exo_client.token()
    exo_client.call("Get-Mailbox", {"ResultSize": 1})
    exo_client.invoke("Get-Mailbox", {"Identity": "ghost"})
    exo_client.batch([("a", "Get-Mailbox", {"ResultSize": 1})])
    stats = exo.control.stats()
    assert stats["tokens_issued"] == 1
    assert stats["by_cmdlet"] == {"Get-Mailbox": 3}
    assert stats["by_status"] == {"200": 3, "404": 1}
    assert stats["by_endpoint"] == {"token": 1, "invoke": 2, "batch": 1}
    assert stats["batches"] == 1 and stats["sub_requests"] == 1 and stats["sub_by_status"] == {"200": 1}
    assert stats["concurrency_current"] == 0 and stats["concurrency_peak"] >= 1
    exo.control.reset_stats()
    assert exo.control.stats()["requests_total"] == 0


def test_config_and_reset(exo):
    config = exo.control.config(latency_ms=5, read_rate=10)
    assert config["latency_ms"] == 5 and config["read_rate"] == 10
    with pytest.raises(Exception, match="unknown config keys"):
        exo.control.config(colour="red")
    exo.control.add_faults({"kind": "throttle", "count": 3})
    exo.control.reset()
    assert exo.control.config()["latency_ms"] == 0 and exo.control.faults() == []


def test_add_mailboxes_and_acl_control(exo, exo_client):
    created = exo.control.add_mailboxes(mailboxes=[{"upn": "Room.Nine@contoso.onmicrosoft.com", "type": "RoomMailbox"}])
    assert created[0]["RecipientTypeDetails"] == "RoomMailbox" and len(created[0]["Name"]) == 36
    with pytest.raises(Exception, match="already exists"):
        exo.control.add_mailboxes(mailboxes=[{"upn": "room.nine@contoso.onmicrosoft.com"}])
    listing = exo.control.mailboxes(offset=250)
    assert listing["total"] == 251 and listing["mailboxes"][0]["Seeded"] is False
    exo.control.grant("room.nine@contoso.onmicrosoft.com", "svc-mse", auto_mapping=True)
    acl = exo.control.acl("room.nine@contoso.onmicrosoft.com")
    assert acl["changed"] and acl["acl"][-1] == {"User": "Svc-MSE@contoso.onmicrosoft.com", "UserSid": acl["acl"][-1]["UserSid"],
                                                 "AccessRights": ["FullAccess"], "IsInherited": False, "Deny": False,
                                                 "InheritanceType": "All", "AutoMapping": True}
    rows = exo_client.call("Get-MailboxPermission", {"Identity": "room.nine@contoso.onmicrosoft.com", "User": "svc-mse"})
    assert rows["value"][0]["AccessRights"] == ["FullAccess"]
    with pytest.raises(Exception, match="404"):
        exo.control.acl("ghost")


def test_cli_start_status_stop(tmp_path):
    env = dict(os.environ, PYTHONPATH=TESTS_DIR)
    state = str(tmp_path / "cli")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "emulator", *args, "--state-dir", state], env=env, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    started = json.loads(cli("start", "--mailboxes", "30", "--seed", "7", "--read-rate", "100", "--read-burst", "50"))
    try:
        info = read_info(state)
        assert info["pid"] == started["pid"] and info["mailboxes"] == 30 and info["options"]["read_rate"] == 100
        for key in ("base_url", "login_url", "exchange_url", "ca_path", "tenant_id", "tenant_domain", "service_account"):
            assert info[key]
        assert set(info["apps"]) == {"secret", "certificate", "no_role", "no_consent", "read_only"}
        assert os.path.exists(info["apps"]["certificate"]["cert_pem_path"])
        EmulatorClient(info).call("Get-Mailbox")
        assert json.loads(cli("status"))["by_cmdlet"] == {"Get-Mailbox": 1}
    finally:
        assert cli("stop").strip() == "stopped"
    with pytest.raises(requests.ConnectionError):
        requests.get(info["base_url"] + "/_emulator/health", verify=info["ca_path"], timeout=5)


@pytest.mark.slow
def test_100k_tenant_starts_fast_and_granted_fraction(tmp_path):
    started = time.monotonic()
    with EmulatorProcess(tmp_path / "big", mailboxes=100000, seed=3, granted_fraction=0.25,
                         granted_user="svc-mse@contoso.onmicrosoft.com") as emulator:
        elapsed = time.monotonic() - started
        assert elapsed < 10, elapsed
        client = EmulatorClient(emulator.info)
        last = client.call("Get-Mailbox", {"ResultSize": "Unlimited"}, page_size=1000, select=["Guid"])
        assert len(last["value"]) == 1000 and "@odata.nextLink" in last
        listing = emulator.control.mailboxes(offset=0, limit=400)["mailboxes"]
        granted = 0
        for row in listing[1:]:
            rows = client.call("Get-MailboxPermission", {"Identity": row["Guid"], "User": "svc-mse"})["value"]
            granted += any("FullAccess" in r["AccessRights"] and not r["Deny"] and not r["IsInherited"] for r in rows)
        assert 60 < granted < 140
        print("100k start: %.2f s (seed %.2f s)" % (elapsed, emulator.info["seed_seconds"]))


def test_load_many_connections(exo, exo_client):
    token = exo_client.token()
    body = exo_client.body("Get-MailboxPermission", {"Identity": "svc-mse"})
    headers = exo_client.headers(token)
    errors, done = [], []

    def worker():
        session = requests.Session()
        try:
            for _index in range(10):
                response = session.post(exo_client.invoke_url, json=body, headers=headers, verify=exo_client.verify,
                                        timeout=60)
                done.append(response.status_code)
        except requests.RequestException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _index in range(150)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert not errors and done.count(200) == 1500
    print("1500 requests over 150 connections: %.2f s (%.0f/s)" % (elapsed, 1500 / elapsed))
