# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mse_site_account; the logic is in plugin_utils/_mse/site_account.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import validate_args
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.runner import (
    ModuleRunner,
    failure_result,
    unexpected_error_message,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.site_account import run_site_account
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import (
    SITE_ACCOUNT_RULES,
    SITE_ACCOUNT_SPEC,
)


class ActionModule(ActionBase):
    """Set the MSE service account, its logon right and (optionally) the mailbox settings."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        super().run(tmp, task_vars)
        del tmp
        runner = None
        secrets = set()
        try:
            params, secrets = validate_args(self._task.args, SITE_ACCOUNT_SPEC, SITE_ACCOUNT_RULES)
            runner = ModuleRunner(self, task_vars or {}, secrets)
            return run_site_account(runner, params)
        except AnsibleActionFail as exc:
            return failure_result(runner, exc.message, secrets)
        # A failed run must still say what it changed on the host; a traceback would lose that.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            return failure_result(runner, unexpected_error_message(exc, runner), secrets, exception=exc)
