# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible.windows / microsoft.ad modules on the Windows host from an action plugin.

Every call is a named step. A failed module raises StepFailed naming the step and the
module; calls that carry a secret run with the task's no_log switched on, so the inner
module neither logs its invocation on the host nor returns it.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import scrub


class StepFailed(AnsibleActionFail):
    """A module called on the Windows host failed."""

    def __init__(self, step, module, message):
        super().__init__("%s failed (%s): %s" % (step, module, message))
        self.step = step
        self.module = module


class ModuleRunner:
    """Calls modules on the host through the action plugin's _execute_module."""

    def __init__(self, action, task_vars, secrets=()):
        self._action = action
        self._task_vars = task_vars
        self._secrets = set(secrets)
        self.steps = []

    @property
    def check_mode(self):
        """Whether the task runs in check mode."""
        return bool(self._action._task.check_mode)

    @property
    def diff_mode(self):
        """Whether the task runs in diff mode."""
        return bool(self._action._task.diff)

    def run(self, step, module, args, secret=False, allow_failure=False):
        """Run MODULE with ARGS as STEP; return its result without the invocation.

        ``secret``: ARGS carry a secret; no_log is forced for this call.
        ``allow_failure``: return a failed result instead of raising StepFailed.
        """
        task = self._action._task
        saved_no_log = task.no_log
        if secret:
            task.no_log = True
        try:
            result = self._action._execute_module(
                module_name=module, module_args=dict(args), task_vars=self._task_vars)
        finally:
            task.no_log = saved_no_log
        result = dict(result or {})
        result.pop("invocation", None)
        result.pop("diff", None)  # the inner module's diff may hold data we must not echo
        self.steps.append({"step": step, "module": module, "changed": bool(result.get("changed")),
                           "failed": bool(result.get("failed"))})
        if result.get("failed") and not allow_failure:
            message = result.get("msg") or "the module failed without a message"
            raise StepFailed(step, module, scrub(message, self._secrets))
        return result
