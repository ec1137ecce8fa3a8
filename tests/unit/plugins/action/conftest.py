"""Build the collection's action plugins with a fake host at the _execute_module boundary."""
from __future__ import annotations

import os
import sys
from unittest.mock import MagicMock

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def make_action(plugin, host, args, check_mode=False, diff=False):
    """An ActionModule of ours whose _execute_module talks to ``host``."""
    task = Task()
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    action = plugin.ActionModule(task, connection=MagicMock(), play_context=PlayContext(), loader=MagicMock(),
                                 templar=MagicMock(), shared_loader_obj=None)
    action._execute_module = lambda **kwargs: host.execute_module(task.check_mode, **kwargs)  # pylint: disable=protected-access
    return action


@pytest.fixture
def run_action():
    """run_action(plugin, host, args, check_mode=False, diff=False) -> result dict."""
    def run(plugin, host, args, check_mode=False, diff=False):
        return make_action(plugin, host, args, check_mode, diff).run(task_vars={})
    return run
