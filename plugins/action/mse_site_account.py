# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mse_site_account; the logic is in plugin_utils/_mse/site_account.py."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import scrub, validate_args
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.runner import ModuleRunner
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
            steps = runner.steps if runner else []
            return {"failed": True, "msg": scrub(exc.message, secrets),
                    "changed": any(step["changed"] for step in steps), "steps": steps}
