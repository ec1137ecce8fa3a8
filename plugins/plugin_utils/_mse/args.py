# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate an action plugin's task arguments against its spec, without leaking secrets."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def no_log_values(spec, params):
    """Return the string values of every no_log option in PARAMS (nested dicts included)."""
    found = set()
    for name, option in spec.items():
        value = (params or {}).get(name)
        if value is None:
            continue
        if option.get("no_log"):
            found.add(str(value))
        if option.get("type") == "dict" and option.get("options") and isinstance(value, dict):
            found |= no_log_values(option["options"], value)
    return {value for value in found if value}


def scrub(text, secrets):
    """Replace every secret in TEXT with the no_log placeholder."""
    text = str(text)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, NO_LOG_PLACEHOLDER)
    return text


def validate_args(task_args, spec, rules=None):
    """Return (params, secrets): validated, defaulted PARAMS and the no_log values in them.

    Raises AnsibleActionFail with the validator's messages, secrets replaced.
    """
    secrets = no_log_values(spec, task_args)
    validator = ArgumentSpecValidator(spec, **(rules or {}))
    result = validator.validate(dict(task_args))
    if result.error_messages:
        raise AnsibleActionFail(scrub("; ".join(result.error_messages), secrets))
    params = result.validated_parameters
    return params, no_log_values(spec, params) | secrets
