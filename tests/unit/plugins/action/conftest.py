# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build our action plugins with the fake Windows host at the _execute_module seam.

The fake host and the contract checker are imported as part of the collection
(ansible_collections.mimecast_mse.sync_engine.tests...), as ansible-test units imports them.
"""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.mimecast_mse.sync_engine.tests.unit.plugins.action.fake_host import FakeWindowsHost


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
