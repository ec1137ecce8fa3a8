# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""debug_log: where and how the trace is written."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_errors import ConfigurationError
from ansible_collections.mimecast_mse.sync_engine.plugins.module_utils.exo_trace import CallTrace


def test_a_symlink_is_refused_and_its_target_left_alone(tmp_path):
    # Someone plants /tmp/mse-trace.jsonl -> a file of the user running Ansible.
    target = tmp_path / "victim"
    target.write_text("precious\n")
    link = tmp_path / "trace.jsonl"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="debug_log .* cannot be written.*symlink is refused"):
        CallTrace(str(link))
    assert target.read_text() == "precious\n"


def test_a_new_trace_is_owner_only(tmp_path):
    path = tmp_path / "trace.jsonl"
    old_umask = os.umask(0)
    try:
        CallTrace(str(path)).event("connected", tenant_id="t")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_trace_is_made_owner_only(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_text("")
    os.chmod(path, 0o644)
    CallTrace(str(path)).event("connected", tenant_id="t")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert '"event": "connected"' in path.read_text()
