# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mse_site_info; the logic is in plugin_utils/_mse/site_info.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import validate_args
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.runner import (
    ModuleRunner,
    failure_result,
    unexpected_error_message,
)
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
        secrets = set()
        try:
            params, secrets = validate_args(self._task.args, SITE_INFO_SPEC, SITE_INFO_RULES)
            runner = ModuleRunner(self, task_vars or {}, secrets)
            return run_site_info(runner, params)
        except AnsibleActionFail as exc:
            return failure_result(runner, exc.message, secrets)
        # Read-only, but a failure still lists the steps made; a traceback would lose them.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            return failure_result(runner, unexpected_error_message(exc, runner), secrets, exception=exc)
