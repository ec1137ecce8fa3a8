# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build our action plugins with the fake Windows host at the _execute_module seam.

tests/conftest.py makes ansible_collections.mimecast_mse.sync_engine importable (through
.build/linked, the tree `make collection` builds); this directory holds the fake host and
the contract checker, imported by name.
"""

from __future__ import annotations

import os
import sys
from unittest.mock import MagicMock

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_host import FakeWindowsHost  # noqa: E402  pylint: disable=wrong-import-position,import-error


def make_action(plugin, host, args, check_mode=False, diff=False):
    """An ActionModule of PLUGIN whose _execute_module is HOST."""
    task = Task()
    task.args = dict(args)
    task.check_mode = check_mode
    task.diff = diff
    task.no_log = False
    action = plugin.ActionModule(task, connection=MagicMock(), play_context=PlayContext(), loader=MagicMock(),
                                 templar=MagicMock(), shared_loader_obj=None)
    action._execute_module = host.executor(action)  # pylint: disable=protected-access
    return action


@pytest.fixture
def host():
    """A Windows host with nothing of MSE on it."""
    return FakeWindowsHost()


@pytest.fixture
def run_action():
    """run_action(plugin, host, args, check_mode=False, diff=False) -> the plugin's result."""
    def run(plugin, fake, args, check_mode=False, diff=False):
        return make_action(plugin, fake, args, check_mode, diff).run(task_vars={})
    return run
