# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of o365_mailbox_fullaccess: runs the module and shows its progress while it works.

A first run on a large tenant is minutes of silence in ansible-playbook and in an AWX
job log. Like ansible.windows.win_updates for long updates, this plugin starts the
module in the background (Ansible's async wrapper), polls it, and prints what the
module reports in its progress file (exo_progress.py) at a steady interval. The task's
result is the module's own result, without the async bookkeeping; check mode and
every option pass through unchanged. A task the user made async itself, or one that
sets progress_path, runs the module as it is.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "mimecast_mse.sync_engine.o365_mailbox_fullaccess"
# Seconds between progress lines; MSE_PROGRESS_INTERVAL on the controller changes it.
DEFAULT_INTERVAL = 30.0
# How long the background job may run (seconds) before the async wrapper stops it.
TIME_LIMIT = 24 * 3600
# Async bookkeeping that is not part of the module's result.
ASYNC_KEYS = ("ansible_job_id", "started", "finished", "results_file", "stdout", "stderr", "stdout_lines",
              "stderr_lines", "_ansible_suppress_tmpdir_delete")


def progress_line(progress):
    """One progress line from the module's snapshot."""
    parts = ["%s" % progress.get("phase", "working"), "listed %d" % progress.get("listed", 0)]
    if "changed" in progress:
        checked = progress.get("unchanged", 0) + progress.get("changed", 0) + progress.get("failed", 0)
        parts += ["checked %d of %d" % (checked, progress.get("selected", 0)), "changed %d" % progress["changed"],
                  "failed %d" % progress.get("failed", 0)]
    if "throttled_share" in progress:
        parts.append("429s %.1f %%" % (100.0 * progress["throttled_share"]))
    return "o365_mailbox_fullaccess: %s (%.0f s)" % (", ".join(parts), progress.get("seconds", 0))


def poll_delays(interval):
    """Waits between polls: short at first, so a quick onboarding run is not held up, then ``interval``."""
    delay = 0.25
    while True:
        yield delay
        delay = min(delay * 2, interval, 5.0)


class ActionModule(ActionBase):
    """Run o365_mailbox_fullaccess in the background and show its progress."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = True
        result = super().run(tmp, task_vars)
        del tmp
        if self._task.async_val or self._task.args.get("progress_path"):
            # The user's own async task (or own progress file): the module as it is.
            result.update(self._execute_module(module_name=MODULE, task_vars=task_vars,
                                               wrap_async=self._task.async_val))
            return result
        return self._run_with_progress(task_vars or {})

    def _interval(self):
        try:
            return max(float(os.environ.get("MSE_PROGRESS_INTERVAL", DEFAULT_INTERVAL)), 0.5)
        except ValueError:
            return DEFAULT_INTERVAL

    def _run_with_progress(self, task_vars):
        async_dir = self.get_shell_option("async_dir", default="~/.ansible_async")
        progress_path = self._connection._shell.join_path(
            self._remote_expand_user(async_dir), "mse-progress-%d.json" % secrets.randbelow(10 ** 12))
        arguments = dict(self._task.args, progress_path=progress_path)
        saved_async = self._task.async_val
        self._task.async_val = TIME_LIMIT
        try:
            started = self._execute_module(module_name=MODULE, module_args=arguments, task_vars=task_vars,
                                           wrap_async=True)
        finally:
            self._task.async_val = saved_async
        job = started.get("ansible_job_id")
        if started.get("failed") or not job:
            return started
        try:
            return self._wait(job, async_dir, progress_path, task_vars)
        finally:
            # The module removes its progress file itself; the job's result file goes here.
            self._execute_module(module_name="ansible.builtin.async_status", task_vars=task_vars,
                                 module_args={"jid": job, "mode": "cleanup", "_async_dir": async_dir})
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _wait(self, job, async_dir, progress_path, task_vars):
        """Poll the job until it ends; print the progress file every interval; return the module's result."""
        interval = self._interval()
        shown = time.monotonic()
        for delay in poll_delays(interval):
            time.sleep(delay)
            status = self._execute_module(module_name="ansible.builtin.async_status", task_vars=task_vars,
                                          module_args={"jid": job, "mode": "status", "_async_dir": async_dir})
            if status.get("finished") or status.get("failed") and "ansible_job_id" not in status:
                return {key: value for key, value in status.items() if key not in ASYNC_KEYS}
            if time.monotonic() - shown >= interval:
                shown = time.monotonic()
                progress = self._read_progress(progress_path, task_vars)
                if progress:
                    display.display(progress_line(progress))
        return {}  # not reached: poll_delays never ends

    def _read_progress(self, path, task_vars):
        """The module's latest snapshot, or None while there is none (it is only progress)."""
        answer = self._execute_module(module_name="ansible.builtin.slurp", module_args={"src": path},
                                      task_vars=task_vars)
        try:
            return json.loads(base64.b64decode(answer["content"]))
        except (KeyError, TypeError, ValueError):
            return None
