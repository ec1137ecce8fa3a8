# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mse_site_info; the logic is in plugin_utils/_mse/site_info.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import validate_args
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.runner import ModuleRunner
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.site_info import run_site_info
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import SITE_INFO_RULES, SITE_INFO_SPEC


class ActionModule(ActionBase):
    """Report the MSE installation of a Windows host, read-only."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        super().run(tmp, task_vars)
        del tmp
        runner = None
        try:
            params, secrets = validate_args(self._task.args, SITE_INFO_SPEC, SITE_INFO_RULES)
            runner = ModuleRunner(self, task_vars or {}, secrets)
            return run_site_info(runner, params)
        except AnsibleActionFail as exc:
            return {"failed": True, "changed": False, "msg": exc.message,
                    "steps": runner.steps if runner else []}
