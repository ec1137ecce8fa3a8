# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible.windows / microsoft.ad modules on the Windows host from an action plugin.

Every call is a named step. A failed module raises StepFailed naming the step and the
module; calls that carry a secret run with the task's no_log switched on, so the inner
module neither logs its invocation on the host nor returns it.

A result this plugin cannot read (a string where a list was documented, a missing key)
raises UnexpectedResult, a StepFailed too: the action plugin then reports the steps
already made and whether they changed the host, instead of a traceback.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import scrub

# Modules that only read. When another module's result cannot be read, its step counts as
# changed: it may have written before it answered.
READ_ONLY_MODULES = frozenset(("ansible.windows.win_service_info", "ansible.windows.win_reg_stat",
                               "ansible.windows.win_stat", "ansible.windows.win_find"))
_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", list: "a list", dict: "a dict"}


class StepFailed(AnsibleActionFail):
    """A module called on the Windows host failed."""

    def __init__(self, step, module, message):
        super().__init__("%s failed (%s): %s" % (step, module, message))
        self.step = step
        self.module = module


class UnexpectedResult(StepFailed):
    """A module returned a result whose shape this plugin does not know."""

    def __init__(self, step, module, detail):
        super().__init__(step, module, "unexpected result from the module: %s. Nothing after this step was done; "
                         "check the ansible.windows version on the controller" % detail)


def _type_name(kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _is(value, kind):
    """isinstance, except that a bool is not an int here."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


class ModuleResult(dict):
    """A module's result that knows the step it came from, to name it when a field has the wrong shape."""

    def __init__(self, record, data):
        super().__init__(data)
        self.record = record  # this call's entry in ModuleRunner.steps
        self.step = record["step"]
        self.module = record["module"]

    def unexpected(self, detail):
        """Mark this step failed and raise UnexpectedResult with DETAIL."""
        self.record["failed"] = True
        raise UnexpectedResult(self.step, self.module, detail)

    def want(self, key, kind, elements=None, required=True):
        """Return result[KEY] if it is a KIND (of ELEMENTS), None if absent and not REQUIRED; else fail."""
        return self.want_from(self, key, kind, elements, required, where="")

    def want_from(self, mapping, key, kind, elements=None, required=True, where=""):
        """As want(), for KEY of MAPPING, a part of this result described by WHERE (for example ``services[0].``)."""
        value = mapping.get(key)
        name = "%s%s" % (where, key)
        if value is None:
            if required:
                self.unexpected("%r is missing" % name)
            return None
        if not _is(value, kind):
            self.unexpected("%r is %s, expected %s" % (name, _type_name(type(value)), _type_name(kind)))
        if elements is not None:
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for index, item in items:
                if not _is(item, elements):
                    self.unexpected("%s[%r] is %s, expected %s"
                                    % (name, index, _type_name(type(item)), _type_name(elements)))
        return value


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

    def run(self, step, module, args, secret=False):
        """Run MODULE with ARGS as STEP; return its ModuleResult without the invocation.

        ``secret``: ARGS carry a secret; no_log is forced for this call.
        """
        task = self._action._task
        saved_no_log = task.no_log
        if secret:
            task.no_log = True
        try:
            raw = self._action._execute_module(module_name=module, module_args=dict(args), task_vars=self._task_vars)
        finally:
            task.no_log = saved_no_log
        readable = isinstance(raw, Mapping)
        record = {"step": step, "module": module}
        self.steps.append(record)
        result = ModuleResult(record, raw if readable else {})
        readable = readable and isinstance(result.get("changed", False), bool)
        # A module that writes, answering in a shape we cannot read, may have changed the host.
        record["changed"] = result.get("changed") is True or (not readable and module not in READ_ONLY_MODULES)
        record["failed"] = bool(result.get("failed"))
        if not isinstance(raw, Mapping):
            result.unexpected("the result is %s, not a dict" % _type_name(type(raw)))
        result.want("changed", bool, required=False)
        result.pop("invocation", None)
        result.pop("diff", None)  # the inner module's diff may hold data we must not echo
        if result.get("failed"):
            message = result.get("msg") or "the module failed without a message"
            raise StepFailed(step, module, scrub(message, self._secrets))
        return result


def failure_result(runner, message, secrets, exception=None):
    """The result of a failed run: MESSAGE (secrets scrubbed) and the steps made, with whether they changed anything.

    EXCEPTION is an error this code did not expect; its traceback is returned (scrubbed) for -vvv.
    """
    steps = runner.steps if runner else []
    result = {"failed": True, "msg": scrub(message, secrets), "changed": any(step["changed"] for step in steps),
              "steps": steps}
    if exception is not None:
        result["exception"] = scrub("".join(traceback.format_exception(exception)), secrets)
    return result


def unexpected_error_message(exc, runner):
    """Message for an error this code did not expect, naming the last step made."""
    last = runner.steps[-1]["step"] if runner and runner.steps else None
    return "Unexpected error%s: %s: %s. This is a bug; please report it with the output of -vvv." % (
        " after step %r" % last if last else "", type(exc).__name__, exc)
