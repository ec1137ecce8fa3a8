"""The shipped playbooks parse, the role checks its variables before touching a host,
playbooks/ews_app_access.yml converges, reruns unchanged and decommissions against the emulator, and
playbooks/access_report.yml prints its report and fails on drift from expected verdicts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from emulator.control import EmulatorProcess
from emulator.fixtures import SESSION_OPTIONS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked"), ANSIBLE_NOCOLOR="1")


@pytest.mark.parametrize("playbook", ["configure_service_account.yml", "grant_fullaccess.yml", "access_report.yml"])
def test_syntax_check(playbook):
    completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i",
                                os.path.join(REPO, "playbooks", "inventory", "example.yml"),
                                os.path.join(REPO, "playbooks", playbook)], capture_output=True, text=True, env=ENV, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_role_rejects_missing_variables_before_any_connection(tmp_path):
    inventory = tmp_path / "hosts.yml"
    # A WinRM host nobody listens for: the run must stop at argument validation, before connecting.
    inventory.write_text("mse_servers:\n  hosts:\n    mse-test:\n      ansible_host: 127.0.0.1\n      ansible_port: 9\n"
                         "      ansible_connection: winrm\n      ansible_user: nobody\n      ansible_password: nothing\n")
    completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory),
                                os.path.join(REPO, "playbooks", "configure_service_account.yml")],
                               capture_output=True, text=True, env=ENV, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "service_account_mailbox" in output and "service_account_password" in output
    assert "UNREACHABLE" not in output


@pytest.fixture(name="exo")
def fixture_exo(tmp_path):
    """An emulator of its own, with the seeded tenant of tests/emulator/README.md
    ("Organisation, EWS policy and RBAC for Applications")."""
    with EmulatorProcess(tmp_path / "emulator", **SESSION_OPTIONS) as process:
        yield process


def org(exo):
    """The emulator's organisation state (GET /_emulator/org)."""
    response = exo.control.session.get(exo.control.url + "/org", verify=exo.ca_path, timeout=60)
    response.raise_for_status()
    return response.json()


def run_ews_app_access(tmp_path, exo, playbook="ews_app_access.yml", **extra_vars):
    """ansible-playbook playbooks/<playbook> against the emulator, signed in as its full-access app."""
    info = exo.info
    variables = {"mse_tenant": info["tenant_domain"], "mse_client_id": info["apps"]["secret"]["client_id"],
                 "mse_client_secret": info["apps"]["secret"]["client_secret"], "mse_login_url": info["login_url"],
                 "mse_exchange_url": info["exchange_url"], "mse_ca_path": info["ca_path"]}
    variables.update(extra_vars)
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    # The playbook falls back to AZURE_* for the admin app: the caller's must not sign in instead.
    env = {key: value for key, value in ENV.items() if not key.startswith("AZURE_")}
    env.update(ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-e", "@" + str(tmp_path / "vars.json"),
               os.path.join(REPO, "playbooks", playbook)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


def test_ews_app_access_converges_the_seeded_tenant_and_decommissions(tmp_path, exo):
    mse = org(exo)["entra_service_principals"]["mse"]
    rows = exo.control.mailboxes(limit=10000)["mailboxes"]
    sales = next(row["UserPrincipalName"] for row in rows if row["Department"] == "Sales")
    finance = next(row["UserPrincipalName"] for row in rows if row["Department"] == "Finance")
    assignments_seeded = len(org(exo)["assignments"])
    common = {"mse_app_client_id": mse["app_id"], "mse_mailbox_filter": "Department -eq 'Sales'"}
    first = run_ews_app_access(tmp_path, exo, mse_app_enterprise_object_id=mse["object_id"], mse_verify_in_scope=[sales],
                               mse_verify_out_of_scope=[finance], **common)
    assert first.returncode == 0, first.stdout + first.stderr
    state = org(exo)
    assert mse["app_id"] in state["ews_allowed_app_ids"] and state["ews_enabled"] is True
    assert any(item["Name"] == "EWS.AccessAsApp-" + mse["app_id"] for item in state["assignments"])
    second = run_ews_app_access(tmp_path, exo, **common)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout + second.stderr
    gone = run_ews_app_access(tmp_path, exo, mse_access_state="absent", **common)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    state = org(exo)
    assert mse["app_id"] not in state["ews_allowed_app_ids"] and len(state["assignments"]) == assignments_seeded == 4


def test_access_report_prints_the_verdicts_and_fails_on_drift(tmp_path, exo):
    mse = org(exo)["entra_service_principals"]["mse"]
    common = {"mse_app_client_id": mse["app_id"], "mse_mailbox_filter": "Department -eq 'Sales'"}
    converged = run_ews_app_access(tmp_path, exo, mse_app_enterprise_object_id=mse["object_id"], **common)
    assert converged.returncode == 0, converged.stdout + converged.stderr
    # o365_ews_access may have fixed mailbox-level EWS in scope: nothing blocks the scoped path now.
    expected = {mse["app_id"]: {"app_rbac": "ends_2027_04_01", "app_tenant_wide": "unknown"}}
    report = run_ews_app_access(tmp_path, exo, playbook="access_report.yml", mse_expected_verdicts=expected, **common)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "verdicts as expected" in report.stdout and "changed=0" in report.stdout
    # Drift: someone takes the app off the allow list.
    response = exo.control.session.post(exo.control.url + "/org", json={"ews_allowed_app_ids": []}, verify=exo.ca_path,
                                        timeout=60)
    response.raise_for_status()
    response = exo.control.session.post(exo.control.url + "/org", json={"ews_enabled": False}, verify=exo.ca_path,
                                        timeout=60)
    response.raise_for_status()
    drifted = run_ews_app_access(tmp_path, exo, playbook="access_report.yml", mse_expected_verdicts=expected, **common)
    assert drifted.returncode != 0 and "drift: expected" in drifted.stdout, drifted.stdout + drifted.stderr
