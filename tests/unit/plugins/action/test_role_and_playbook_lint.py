# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service_account role and its playbook pass ansible-lint (production) and a syntax check."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "linked"), ANSIBLE_NOCOLOR="1",
           NO_COLOR="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
PATHS = ["roles/service_account", "playbooks/configure_service_account.yml", "playbooks/inventory/example.yml"]


def test_syntax_check():
    completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i",
                                "playbooks/inventory/example.yml", "playbooks/configure_service_account.yml"],
                               cwd=REPO, env=ENV, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ansible_lint_production():
    completed = subprocess.run([os.path.join(BIN, "ansible-lint"), "--profile", "production", *PATHS],
                               cwd=REPO, env=ENV, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
