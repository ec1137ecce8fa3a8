# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check module calls against the documented options of the installed modules.

The documentation is read in-process, the way ansible-doc reads it (plugin loader,
sidecar documentation files of PowerShell modules, doc fragments merged), from the
installed collections (ansible.windows, microsoft.ad, ...). A wrong option name, type,
choice or a missing required option in a call the action plugins make fails the test
that made it.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.loader import fragment_loader, init_plugin_loader, module_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.plugin_docs import get_plugin_docs

_DOCS: dict = {}


class ContractError(AssertionError):
    """A module call that the module's documentation does not allow."""


def _ensure_collection_loader():
    """Install Ansible's collection loader unless a test runner (ansible-test units) did already."""
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader()


def module_doc(fqcn):
    """Return the DOCUMENTATION of module FQCN as a dict, read once per session."""
    if fqcn not in _DOCS:
        _ensure_collection_loader()
        try:
            doc = get_plugin_docs(fqcn, "module", module_loader, fragment_loader, False)[0]
        except AnsibleError as exc:
            raise ContractError("module %s is not installed or has no documentation: %s" % (fqcn, exc)) from None
        _DOCS[fqcn] = doc
    return _DOCS[fqcn]


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


def _option_names(options):
    """{name or alias: documented name}."""
    names = {}
    for name, option in options.items():
        names[name] = name
        for alias in option.get("aliases") or []:
            names[alias] = name
    return names


def _value_problems(option, arg, value, where):
    """Problems of one given VALUE against its documented OPTION."""
    kind = option.get("type", "str")
    if not _type_ok(kind, value):
        return ["%s: option %r must be %s, got %s" % (where, arg, kind, type(value).__name__)]
    problems = []
    items = value if kind == "list" else [value]
    if kind == "list" and option.get("elements"):
        problems.extend("%s: elements of %r must be %s, got %s" % (where, arg, option["elements"], type(item).__name__)
                        for item in items if not _type_ok(option["elements"], item))
    choices = option.get("choices")
    if choices:
        problems.extend("%s: option %r is %r, not one of %s" % (where, arg, item, choices)
                        for item in items if item not in choices)
    if kind == "dict" and option.get("suboptions"):
        problems.extend(check_options(option["suboptions"], value, "%s.%s" % (where, arg)))
    return problems


def check_options(options, args, where):
    """Return a list of problems of ARGS against the documented OPTIONS."""
    problems = []
    names = _option_names(options)
    for arg, value in args.items():
        if arg not in names:
            problems.append("%s: unknown option %r (documented: %s)" % (where, arg, ", ".join(sorted(options))))
        elif value is not None:
            problems.extend(_value_problems(options[names[arg]], arg, value, where))
    given = {names[arg] for arg in args if arg in names}
    problems.extend("%s: required option %r missing" % (where, name)
                    for name, option in options.items() if option.get("required") and name not in given)
    return problems


def check_call(module, args, check_mode=False):
    """Raise ContractError unless MODULE accepts ARGS (and supports check mode when asked)."""
    doc = module_doc(module)
    problems = check_options(doc.get("options") or {}, args, module)
    support = ((doc.get("attributes") or {}).get("check_mode") or {}).get("support")
    if check_mode and support == "none":
        problems.append("%s does not support check mode but was called in it" % module)
    if problems:
        raise ContractError("; ".join(problems))
