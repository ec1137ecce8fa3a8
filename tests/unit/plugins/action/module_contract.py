# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check module calls against the documented options of the installed modules.

The documentation is read once per test session with ``ansible-doc --json`` from the
installed collections (ansible.windows, microsoft.ad, ...), so a wrong option name, type
or choice in a call the action plugins make fails the test that made it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
_DOCS: dict = {}


class ContractError(AssertionError):
    """A module call that the module's documentation does not allow."""


def load_docs(*fqcns):
    """Return {fqcn: doc} for FQCNS, running ansible-doc once for those not cached yet."""
    missing = [name for name in fqcns if name not in _DOCS]
    if missing:
        completed = subprocess.run([ANSIBLE_DOC, "--json", "-t", "module", *missing],
                                   capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError("ansible-doc failed for %s: %s" % (missing, completed.stderr))
        data = json.loads(completed.stdout)
        for name in missing:
            if name not in data:
                raise ContractError("module %s is not installed or has no documentation" % name)
            _DOCS[name] = data[name]["doc"]
    return {name: _DOCS[name] for name in fqcns}


def _type_ok(kind, value):
    if kind in (None, "raw"):
        return True
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    return True  # types this checker does not know (jsonarg, sid, ...) are not judged


def check_options(options, args, where):
    """Return a list of problems of ARGS against the documented OPTIONS."""
    problems = []
    names = {}
    for name, option in options.items():
        names[name] = name
        for alias in option.get("aliases") or []:
            names[alias] = name
    for arg, value in args.items():
        if arg not in names:
            problems.append("%s: unknown option %r (documented: %s)" % (where, arg, ", ".join(sorted(options))))
            continue
        option = options[names[arg]]
        if value is None:
            continue
        kind = option.get("type", "str")
        if not _type_ok(kind, value):
            problems.append("%s: option %r must be %s, got %s" % (where, arg, kind, type(value).__name__))
            continue
        items = value if kind == "list" else [value]
        if kind == "list" and option.get("elements"):
            for item in items:
                if not _type_ok(option["elements"], item):
                    problems.append("%s: elements of %r must be %s, got %s"
                                    % (where, arg, option["elements"], type(item).__name__))
        choices = option.get("choices")
        if choices:
            for item in items:
                if item not in choices:
                    problems.append("%s: option %r is %r, not one of %s" % (where, arg, item, choices))
        if kind == "dict" and option.get("suboptions"):
            problems.extend(check_options(option["suboptions"], value, "%s.%s" % (where, arg)))
    given = {names[arg] for arg in args if arg in names}
    for name, option in options.items():
        if option.get("required") and name not in given:
            problems.append("%s: required option %r missing" % (where, name))
    return problems


def check_call(module, args, check_mode=False):
    """Raise ContractError unless MODULE accepts ARGS (and supports check mode when asked)."""
    doc = load_docs(module)[module]
    problems = check_options(doc.get("options") or {}, args, module)
    support = ((doc.get("attributes") or {}).get("check_mode") or {}).get("support")
    if check_mode and support == "none":
        problems.append("%s does not support check mode but was called in it" % module)
    if problems:
        raise ContractError("; ".join(problems))
