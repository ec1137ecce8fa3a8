# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of the collection in-process against the Exchange Online emulator.

Shared by the module tests; imported as part of the collection
(ansible_collections.mimecast_mse.sync_engine.tests...), as ansible-test units imports it.
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19, the lower end of requires_ansible
    @contextlib.contextmanager
    def patch_module_args(args):
        """What ansible-core 2.19's helper does: the arguments AnsibleModule reads."""
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")):
            yield


def run_module(module, args, capsys, check=False, diff=False):
    """Run ``module.main()`` with ``args`` (check and diff mode as asked); returns its result dict."""
    # Warnings and deprecations are module-global: without a fresh store a second run in the
    # same test would report the first run's warnings as its own.
    # (Dicts from ansible-core 2.19, lists before.)
    fresh_warnings = type(warnings._global_warnings)()  # pylint: disable=protected-access
    fresh_deprecations = type(warnings._global_deprecations)()  # pylint: disable=protected-access
    with mock.patch.object(warnings, "_global_warnings", fresh_warnings), \
            mock.patch.object(warnings, "_global_deprecations", fresh_deprecations):
        with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
            with pytest.raises(SystemExit):
                module.main()
    return json.loads(capsys.readouterr().out)


def connection(exo, app="secret", tenant=None):
    """Module options that sign in to the emulator as one of its registered apps."""
    args = {"tenant": tenant or exo.info["tenant_domain"], "login_url": exo.info["login_url"],
            "exchange_url": exo.info["exchange_url"], "ca_path": exo.info["ca_path"],
            "client_id": exo.info["apps"][app]["client_id"]}
    if "client_secret" in exo.info["apps"][app]:
        args["client_secret"] = exo.info["apps"][app]["client_secret"]
    return args


def warning_texts(result):
    """The result's warnings as text (a module run in-process returns them as structured records)."""
    return [json.dumps(warning) for warning in result.get("warnings", [])]


def org(exo, **changes):
    """The emulator's organisation state, GET /_emulator/org (POST ``changes`` first when given)."""
    return exo.control.org(**changes)


def writes(exo):
    """Cmdlets that change something, with their counts, since the last stats reset."""
    by_cmdlet = exo.control.stats()["by_cmdlet"]
    return {name: count for name, count in by_cmdlet.items() if name.split("-")[0] in ("Set", "New", "Remove", "Add")}
