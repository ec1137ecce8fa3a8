# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract checker rejects what the real modules would reject."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.action import module_contract
from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.action.module_contract import (
    ContractError,
    check_call,
    module_doc,
)


def test_accepts_a_valid_call():
    check_call("ansible.windows.win_service", {"name": "msesrv", "username": "CONTOSO\\svc", "password": "x",
                                               "update_password": "on_create"})
    check_call("ansible.windows.win_regedit", {"key": "HKLM:\\SOFTWARE\\X", "value": "V", "data": "d"})  # aliases


def test_rejects_an_unknown_option():
    with pytest.raises(ContractError, match="unknown option 'user'"):
        check_call("ansible.windows.win_service", {"name": "msesrv", "user": "CONTOSO\\svc"})


def test_rejects_a_wrong_type():
    with pytest.raises(ContractError, match="'users' must be list"):
        check_call("ansible.windows.win_user_right", {"name": "SeServiceLogonRight", "users": "CONTOSO\\svc"})
    with pytest.raises(ContractError, match="'get_checksum' must be bool"):
        check_call("ansible.windows.win_stat", {"path": "C:\\x", "get_checksum": "no"})


def test_rejects_a_wrong_choice():
    with pytest.raises(ContractError, match="not one of"):
        check_call("ansible.windows.win_service", {"name": "msesrv", "update_password": "on_change"})


def test_rejects_a_missing_required_option():
    with pytest.raises(ContractError, match="required option 'users' missing"):
        check_call("ansible.windows.win_user_right", {"name": "SeServiceLogonRight"})


def test_rejects_an_unknown_module():
    with pytest.raises(ContractError, match="not installed"):
        module_doc("ansible.windows.win_no_such_module")


def test_rejects_wrong_list_elements():
    with pytest.raises(ContractError, match="elements of 'paths' must be str"):
        check_call("ansible.windows.win_find", {"paths": [1]})


def test_reads_documentation_in_process(monkeypatch):
    """ansible-test units runs without the venv's scripts on PATH: no ansible-doc subprocess."""
    def no_subprocess(*args, **kwargs):
        raise AssertionError("the contract checker started a process: %r" % (args,))
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    monkeypatch.setattr(module_contract, "_DOCS", {})
    assert "username" in module_doc("ansible.windows.win_service")["options"]


def test_sidecar_documentation_and_doc_fragments_are_read():
    """microsoft.ad documents its modules in .yml files and shares options through doc fragments."""
    check_call("microsoft.ad.user", {"name": "svc-mse", "domain_server": "dc01.contoso.com", "state": "present"})
    with pytest.raises(ContractError, match="'state' is 'gone'"):
        check_call("microsoft.ad.user", {"name": "svc-mse", "state": "gone"})
