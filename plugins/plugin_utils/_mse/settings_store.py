# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the Microsoft Mailbox address, its password and the Directory Type into a settings
store that the user described and verified on their own install.

Mimecast does not publish where Site Configure keeps these settings, so nothing is
written without an explicit ``settings_store``; only ``type: registry`` is supported
(ansible.windows.win_regedit, REG_SZ values, into a key that already exists).

Three phases, so that bad input and a missing key fail before anything changes:
plan_settings (options only), read_settings (one read of the key), write_settings.
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

# (result field and module option, settings_store key naming the registry value, secret)
FIELDS = (
    ("mailbox_address", "mailbox_address_value", False),
    ("mailbox_password", "mailbox_password_value", True),
    ("directory_type", "directory_type_value", False),
)


def _check_distinct_value_names(store):
    """Fail unless every setting names its own registry value (names are compared as Windows does, ignoring case)."""
    seen = {}
    for _field, store_key, _secret in FIELDS:
        value_name = store.get(store_key)
        if not value_name:
            continue
        other = seen.setdefault(value_name.lower(), store_key)
        if other != store_key:
            raise AnsibleActionFail(
                "Check settings_store failed: settings_store.%s and settings_store.%s both name the registry value "
                "%r (registry value names are not case-sensitive); give each setting its own value"
                % (other, store_key, value_name))


def _wanted(params, store):
    """Return [(field, value name, data, secret)] for the settings given, or fail on a gap."""
    wanted = []
    for field, store_key, secret in FIELDS:
        data = params.get(field)
        if data is None:
            continue
        value_name = store.get(store_key)
        if not value_name:
            raise AnsibleActionFail("Check settings_store failed: %s is set but settings_store.%s does not name "
                                    "the registry value to write it to" % (field, store_key))
        if secret and store.get("password_storage") != "plaintext":
            raise AnsibleActionFail(
                "Check settings_store failed: mailbox_password would be stored as plain REG_SZ data; set "
                "settings_store.password_storage=plaintext only if your verified install stores it that way "
                "(DPAPI or other protection is not supported)")
        wanted.append((field, value_name, data, secret))
    return wanted


def plan_settings(params):
    """Check the settings options before any module runs.

    Returns ``{"store": ..., "wanted": [...]}``, or ``{"not_managed": [...]}`` (the settings given) without a store.
    """
    store = params.get("settings_store")
    if not store:
        return {"not_managed": [field for field, _key, _secret in FIELDS if params.get(field) is not None]}
    if not store.get("verified"):
        raise AnsibleActionFail(
            "Check settings_store failed: set settings_store.verified=true to confirm you checked on your "
            "install (for example with mimecast_mse.sync_engine.mse_site_info and Site Configure) that MSE "
            "reads these values from %s" % store["path"])
    _check_distinct_value_names(store)
    return {"store": store, "wanted": _wanted(params, store)}


def read_settings(runner, plan):
    """Check the store's key exists; return {value name (lower case): data} of the settings that are not secret.

    The read returns every value of the key, the password too, so it runs with no_log and
    only the values named for the address and the Directory Type are kept (for the diff).
    """
    if not plan.get("wanted"):
        return {}
    store = plan["store"]
    stat = runner.run("Check settings store key %s" % store["path"], REG_STAT, {"path": store["path"]}, secret=True)
    if not stat.want("exists", bool):
        raise AnsibleActionFail(
            "Check settings store key failed: %s does not exist. This module writes only into an existing key "
            "that you verified; it never creates one." % store["path"])
    properties = stat.want("properties", dict, elements=dict)
    shown = {value_name.lower() for _field, value_name, _data, secret in plan["wanted"] if not secret}
    return {name.lower(): entry.get("value") for name, entry in properties.items() if name.lower() in shown}


def _report(plan):
    if "not_managed" in plan:
        return {"status": "not_managed", "msg": NOT_MANAGED_MSG, "not_written": plan["not_managed"]}
    store = plan["store"]
    fields = {field: {"status": "not_requested"} for field, _key, _secret in FIELDS}
    return {"status": "managed", "type": store["type"], "path": store["path"], "fields": fields}


def write_settings(runner, plan, current):
    """Write the planned settings; returns (report, changed, diff_before, diff_after)."""
    report = _report(plan)
    changed = False
    before, after = {}, {}
    for field, value_name, data, secret in plan.get("wanted", ()):
        result = runner.run("Write %s to the settings store" % field, REGEDIT,
                            {"path": plan["store"]["path"], "name": value_name, "data": data, "type": "string",
                             "state": "present"}, secret=secret)
        field_changed = result.get("changed") is True
        changed = changed or field_changed
        report["fields"][field] = {"status": "managed", "value_name": value_name, "changed": field_changed}
        if not secret:
            before[field] = current.get(value_name.lower())
            after[field] = data
        elif field_changed:
            before[field] = HIDDEN_BEFORE
            after[field] = NO_LOG_PLACEHOLDER
    return report, changed, before, after
