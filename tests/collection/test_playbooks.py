"""The shipped playbooks parse, and the role checks its variables before touching a host."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked"), ANSIBLE_NOCOLOR="1")


@pytest.mark.parametrize("playbook", ["configure_service_account.yml", "grant_fullaccess.yml"])
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
