# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the Microsoft Mailbox address, its password and the Directory Type into a settings
store that the user described and verified on their own install.

Mimecast does not publish where Site Configure keeps these settings, so nothing is
written without an explicit ``settings_store``; only ``type: registry`` is supported
(ansible.windows.win_regedit, REG_SZ values, into a key that already exists).
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import NO_LOG_PLACEHOLDER

REG_STAT = "ansible.windows.win_reg_stat"
REGEDIT = "ansible.windows.win_regedit"
NOT_MANAGED_MSG = (
    "Microsoft Mailbox, its password and Directory Type are not managed: Mimecast does not publish where "
    "Site Configure stores them. Set them in Site Configure, or describe your verified store in settings_store.")
HIDDEN_BEFORE = "(previous value not shown)"

# (result field, module option, settings_store key naming the registry value, secret)
FIELDS = (
    ("mailbox_address", "mailbox_address", "mailbox_address_value", False),
    ("mailbox_password", "mailbox_password", "mailbox_password_value", True),
    ("directory_type", "directory_type", "directory_type_value", False),
)


def _wanted(params, store):
    """Return [(field, value name, data, secret)] for the settings given, or fail on a gap."""
    wanted = []
    for field, option, store_key, secret in FIELDS:
        data = params.get(option)
        if data is None:
            continue
        value_name = store.get(store_key)
        if not value_name:
            raise AnsibleActionFail("Check settings_store failed: %s is set but settings_store.%s does not name "
                                    "the registry value to write it to" % (option, store_key))
        if secret and store.get("password_storage") != "plaintext":
            raise AnsibleActionFail(
                "Check settings_store failed: mailbox_password would be stored as plain REG_SZ data; set "
                "settings_store.password_storage=plaintext only if your verified install stores it that way "
                "(DPAPI or other protection is not supported)")
        wanted.append((field, value_name, data, secret))
    return wanted


def apply_settings(runner, params):
    """Apply the settings; returns (report, changed, diff_before, diff_after)."""
    store = params.get("settings_store")
    if not store:
        requested = [field for field, option, _key, _secret in FIELDS if params.get(option) is not None]
        return {"status": "not_managed", "msg": NOT_MANAGED_MSG, "not_written": requested}, False, {}, {}
    if not store.get("verified"):
        raise AnsibleActionFail(
            "Check settings_store failed: set settings_store.verified=true to confirm you checked on your "
            "install (for example with mimecast_mse.sync_engine.mse_site_info and Site Configure) that MSE "
            "reads these values from %s" % store["path"])
    wanted = _wanted(params, store)
    report = {"status": "managed", "type": store["type"], "path": store["path"], "fields": {}}
    for field, _option, _store_key, _secret in FIELDS:
        report["fields"][field] = {"status": "not_requested"}
    if not wanted:
        return report, False, {}, {}
    has_secret = any(secret for _f, _n, _d, secret in wanted)
    stat = runner.run("Check settings store key %s" % store["path"], REG_STAT, {"path": store["path"]},
                      secret=has_secret)
    if not stat.get("exists"):
        raise AnsibleActionFail(
            "Check settings store key failed: %s does not exist. This module writes only into an existing key "
            "that you verified; it never creates one." % store["path"])
    current = stat.get("properties") or {}
    changed = False
    before, after = {}, {}
    for field, value_name, data, secret in wanted:
        result = runner.run("Write %s to the settings store" % field, REGEDIT,
                            {"path": store["path"], "name": value_name, "data": data, "type": "string",
                             "state": "present"}, secret=secret)
        field_changed = bool(result.get("changed"))
        changed = changed or field_changed
        report["fields"][field] = {"status": "managed", "value_name": value_name, "changed": field_changed}
        if secret:
            if field_changed:
                before[field] = HIDDEN_BEFORE
                after[field] = NO_LOG_PLACEHOLDER
        else:
            entry = current.get(value_name) or {}
            before[field] = entry.get("value") if isinstance(entry, dict) else None
            after[field] = data
    return report, changed, before, after
