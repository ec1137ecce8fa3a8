# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The doc-only modules document exactly the argument specs the action plugins validate."""

from __future__ import annotations

import importlib
import re

import pytest
import yaml

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse import specs

PAIRS = [("mse_site_info", specs.SITE_INFO_SPEC), ("mse_site_account", specs.SITE_ACCOUNT_SPEC)]


def _normalise(options, nested_key):
    """Type, required, default, choices and elements of each option; ``nested_key`` names the sub-options."""
    out = {}
    for name, option in options.items():
        entry = {
            "type": option.get("type", "str"),
            "required": bool(option.get("required", False)),
            "default": option.get("default"),
            "choices": option.get("choices"),
            "elements": option.get("elements"),
        }
        if option.get(nested_key):
            entry["suboptions"] = _normalise(option[nested_key], nested_key)
        out[name] = entry
    return out


def _normalise_spec(spec):
    return _normalise(spec, "options")


def _normalise_doc(options):
    return _normalise(options, "suboptions")


@pytest.mark.parametrize("module, spec", PAIRS, ids=[pair[0] for pair in PAIRS])
def test_documented_options_equal_the_spec(module, spec):
    doc_module = importlib.import_module("ansible_collections.mimecast_mse.sync_engine.plugins.modules." + module)
    doc = yaml.safe_load(doc_module.DOCUMENTATION)
    assert _normalise_doc(doc["options"]) == _normalise_spec(spec)


def test_secret_options_are_no_log():
    secret_like = [name for name in specs.SITE_ACCOUNT_SPEC if "password" in name and name != "update_password"]
    assert secret_like == ["password", "mailbox_password"]
    assert all(specs.SITE_ACCOUNT_SPEC[name].get("no_log") for name in secret_like)


def _strings(node):
    """Every string in a loaded YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


@pytest.mark.parametrize("module", [pair[0] for pair in PAIRS])
def test_code_markup_shows_single_backslashes(module):
    """C() has no escapes: C(HKLM:\\SOFTWARE) written in a plain YAML scalar would show both backslashes."""
    doc_module = importlib.import_module("ansible_collections.mimecast_mse.sync_engine.plugins.modules." + module)
    texts = [text for attr in ("DOCUMENTATION", "RETURN") for text in _strings(yaml.safe_load(getattr(doc_module, attr)))]
    code = [match for text in texts for match in re.findall(r"\bC\(([^)]*)\)", text)]
    assert any("\\" in item for item in code), "the check found no Windows path in C() to look at"
    assert [item for item in code if "\\\\" in item] == []
