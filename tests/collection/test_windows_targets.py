# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Windows integration targets parse: ansible-playbook --syntax-check of each, as ansible-test runs it.

They need a Windows host to run (see tests/integration/inventory.winrm.template); this
catches YAML, module-option-name and import errors without one. ansible-test runs a role
target through a playbook like the one generated here, with the targets as the roles path.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from ansible.plugins.loader import fragment_loader, init_plugin_loader, module_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.plugin_docs import get_plugin_docs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(REPO, "tests", "integration", "targets")
BIN = os.path.dirname(sys.executable)
WINDOWS_TARGETS = sorted(name for name in os.listdir(TARGETS)
                         if os.path.isfile(os.path.join(TARGETS, name, "aliases"))
                         and "windows" in open(os.path.join(TARGETS, name, "aliases"), encoding="utf-8").read().split())


def test_the_windows_targets_are_found():
    assert WINDOWS_TARGETS == ["mse_site_account", "mse_site_info", "service_account_role"]


@pytest.mark.parametrize("target", WINDOWS_TARGETS)
def test_syntax_check(tmp_path, target):
    (tmp_path / "inventory.winrm").write_text("[windows]\nwinhost ansible_host=192.0.2.1 ansible_connection=winrm\n")
    (tmp_path / "playbook.yml").write_text(
        "- name: Run %s\n  hosts: windows\n  gather_facts: false\n  roles:\n    - %s\n" % (target, target))
    env = dict(os.environ, ANSIBLE_ROLES_PATH=TARGETS, ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".build", "linked"))
    completed = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", "inventory.winrm",
                                "playbook.yml"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
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


def _module_doc(fqcn):
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader([os.path.join(REPO, ".build", "linked")])
    return get_plugin_docs(fqcn, "module", module_loader, fragment_loader, False)[0]


def test_module_options_are_documented_ones():
    """Catches a misspelt option of a PowerShell module, which neither --syntax-check nor ansible-lint can."""
    problems = []
    for path, task, module, args in _module_calls():
        options = _module_doc(module).get("options") or {}
        names = {alias: name for name, option in options.items() for alias in [name, *(option.get("aliases") or [])]}
        for arg, value in args.items():
            option = options.get(names.get(arg))
            if option is None:
                problems.append("%s: %r: %s has no option %r" % (path, task, module, arg))
            elif option.get("choices") and isinstance(value, str) and "{{" not in value \
                    and value not in option["choices"]:
                problems.append("%s: %r: %s=%r is not one of %s" % (path, task, arg, value, option["choices"]))
    assert problems == []
