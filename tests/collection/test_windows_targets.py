# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows integration targets are right as far as can be told without a Windows host.

They need one to run (see tests/integration/inventory.winrm.template). Here: each target
passes ansible-playbook --syntax-check in a playbook like the one ansible-test generates
(the targets as the roles path), and every module option they use is a documented one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(REPO, "tests", "integration", "targets")
BIN = os.path.dirname(sys.executable)


def _aliases(target):
    path = os.path.join(TARGETS, target, "aliases")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return handle.read().split()


def _ansible_env():
    env = dict(os.environ, ANSIBLE_ROLES_PATH=TARGETS, ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".build", "linked"))
    return env


WINDOWS_TARGETS = sorted(name for name in os.listdir(TARGETS) if "windows" in _aliases(name))


def test_the_windows_targets_are_found():
    assert WINDOWS_TARGETS == ["mse_site_account", "mse_site_info", "service_account_role"]


@pytest.mark.parametrize("target", WINDOWS_TARGETS)
def test_syntax_check(tmp_path, target):
    (tmp_path / "inventory.winrm").write_text("[windows]\nwinhost ansible_host=192.0.2.1 ansible_connection=winrm\n")
    (tmp_path / "playbook.yml").write_text(
        "- name: Run %s\n  hosts: windows\n  gather_facts: false\n  roles:\n    - %s\n" % (target, target))
    completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", "inventory.winrm",
                                "playbook.yml"], cwd=tmp_path, env=_ansible_env(), capture_output=True, text=True,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _tasks(node):
    """Every task in a list of tasks, blocks included."""
    for task in node or []:
        if "block" in task:
            for section in ("block", "rescue", "always"):
                yield from _tasks(task.get(section))
        else:
            yield task


def _module_calls():
    """(file, task name, module FQCN, args) of every task in the Windows targets and their setup role."""
    calls = []
    for root, _dirs, files in os.walk(TARGETS):
        for name in sorted(files):
            if not (name.endswith(".yml") and os.path.basename(root) == "tasks"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as handle:
                for task in _tasks(yaml.safe_load(handle)):
                    [module] = [key for key in task if key.count(".") == 2]
                    # free-form arguments (import_tasks: x.yml, set_fact's variables) are not judged
                    if isinstance(task[module] or {}, dict) and module != "ansible.builtin.set_fact":
                        calls.append((os.path.relpath(path, TARGETS), task.get("name"), module, task[module] or {}))
    return calls


def _module_docs(fqcns):
    """{fqcn: DOCUMENTATION} read with ansible-doc, as a user would see it."""
    completed = subprocess.run([os.path.join(BIN, "ansible-doc"), "--json", "-t", "module", *sorted(fqcns)],
                               env=_ansible_env(), capture_output=True, text=True, check=True)
    return {name: entry["doc"] for name, entry in json.loads(completed.stdout).items()}


def test_module_options_are_documented_ones():
    """Catches a misspelt option of a PowerShell module, which neither --syntax-check nor ansible-lint can."""
    problems = []
    calls = _module_calls()
    docs = _module_docs({module for _path, _task, module, _args in calls})
    for path, task, module, args in calls:
        options = docs[module].get("options") or {}
        names = {alias: name for name, option in options.items() for alias in [name, *(option.get("aliases") or [])]}
        for arg, value in args.items():
            option = options.get(names.get(arg))
            if option is None:
                problems.append("%s: %r: %s has no option %r" % (path, task, module, arg))
            elif option.get("choices") and isinstance(value, str) and "{{" not in value \
                    and value not in option["choices"]:
                problems.append("%s: %r: %s=%r is not one of %s" % (path, task, arg, value, option["choices"]))
    assert problems == []
