"""Check a module call against that module's documented options, read with ansible-doc --json.

The action plugins call ansible.windows modules by name with dicts of arguments; nothing
but this contract tells a wrong option name, type or choice apart from a right one
before a real Windows host would.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

CALLED_MODULES = (
    "ansible.windows.win_service", "ansible.windows.win_service_info", "ansible.windows.win_user_right",
    "ansible.windows.win_reg_stat", "ansible.windows.win_regedit", "ansible.windows.win_stat", "ansible.windows.win_find",
)
TYPE_CHECKS = {
    "str": lambda value: isinstance(value, str),
    "path": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "list": lambda value: isinstance(value, list),
    "dict": lambda value: isinstance(value, dict),
    "raw": lambda value: True,
}


class ContractError(AssertionError):
    """A module call that the called module would reject."""


@functools.lru_cache(maxsize=None)
def documented_options(module):
    """The module's documented options (name -> spec), from ansible-doc --json."""
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    completed = subprocess.run([ansible_doc, "--json", module], capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)[module]["doc"]["options"]


def check_call(module, args):
    """Raise ContractError unless ``args`` fits the documented options of ``module``."""
    options = documented_options(module)
    names = {}
    for name, spec in options.items():
        names[name] = spec
        for alias in spec.get("aliases") or []:
            names[alias] = spec
    for name, value in args.items():
        if name not in names:
            raise ContractError("%s has no option %r (documented: %s)" % (module, name, ", ".join(sorted(options))))
        spec = names[name]
        kind = spec.get("type", "str")
        if not TYPE_CHECKS.get(kind, lambda value: True)(value):
            raise ContractError("%s option %r must be %s, got %r" % (module, name, kind, type(value).__name__))
        values = value if kind == "list" else [value]
        element = spec.get("elements")
        if kind == "list" and element and not all(TYPE_CHECKS.get(element, lambda item: True)(item) for item in value):
            raise ContractError("%s option %r must be a list of %s" % (module, name, element))
        if spec.get("choices") and any(item not in spec["choices"] for item in values):
            raise ContractError("%s option %r must be one of %s, got %r" % (module, name, spec["choices"], value))
    for name, spec in options.items():
        if spec.get("required") and name not in args:
            raise ContractError("%s needs option %r" % (module, name))
