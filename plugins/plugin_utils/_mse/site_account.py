# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mse_site_account: what Site Configure's Accounts tab does, through ansible.windows modules.

Steps, each a module call on the host. First the reads, so that a missing service or
settings key fails before anything changes: find the MSE service (win_service_info),
read the installed version (win_reg_stat), check the settings store key (win_reg_stat).
Then the writes: grant SeServiceLogonRight (win_user_right), set the service account
(win_service), write the mailbox settings into a user-described store (win_regedit),
then restart or start the service (win_service) only as needed.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.accounts import classify, same_account
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.args import NO_LOG_PLACEHOLDER
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.discovery import resolve_service
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.install import (
    FIRST_VERSION_WITHOUT_LOGON_ACCOUNT,
    installed_version,
    major_version,
    uninstall_entries,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.settings_store import (
    HIDDEN_BEFORE,
    plan_settings,
    read_settings,
    write_settings,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import DEFAULT_PRODUCT_CODES

SERVICE = "ansible.windows.win_service"
USER_RIGHT = "ansible.windows.win_user_right"
LOGON_RIGHT = "SeServiceLogonRight"


def check_account(params):
    """Return the Account for params['account'], checking the password fits it."""
    try:
        account = classify(params["account"])
    except ValueError as exc:
        raise AnsibleActionFail("Check account failed: %s" % exc) from None
    if account.needs_password and not params.get("password"):
        raise AnsibleActionFail(
            "Check account failed: password is required for %s (only built-in accounts and gMSAs run "
            "without one)" % account.name)
    if not account.needs_password and params.get("password"):
        raise AnsibleActionFail(
            "Check account failed: %s is a %s and takes no password; remove password"
            % (account.name, "built-in account" if account.kind == "builtin" else "gMSA"))
    return account


def grant_logon_right(runner, params, account):
    """Return (status, changed) of the SeServiceLogonRight step."""
    if not account.needs_logon_right:
        return "not_needed", False
    if not params["grant_logon_right"]:
        return "not_managed", False
    result = runner.run("Grant %s to %s" % (LOGON_RIGHT, account.name), USER_RIGHT,
                        {"name": LOGON_RIGHT, "users": [account.name], "action": "add"})
    changed = result.get("changed") is True
    return ("granted" if changed else "held"), changed


def set_service_account(runner, params, account, service):
    """Return the win_service result of setting the account (and password as update_password says).

    win_service's update_password=on_create sets the password when the account changes
    (or the service is new) and leaves it alone otherwise - this module's on_change.
    """
    args = {"name": service["name"], "username": account.name}
    if account.needs_password:
        args["password"] = params["password"]
        args["update_password"] = "always" if params["update_password"] == "always" else "on_create"
    return runner.run("Set the account of service %s" % service["name"], SERVICE, args,
                      secret=account.needs_password)


def settle_state(runner, params, service, needs_restart):
    """Start, stop or restart the service; returns (final state, restarted, changed)."""
    state, current = params["state"], service.get("state")
    name = service["name"]
    if state == "stopped":
        result = runner.run("Stop service %s" % name, SERVICE, {"name": name, "state": "stopped"})
        return "stopped", False, result.get("changed") is True
    if needs_restart and params["restart"] and (state == "started" or current == "running"):
        runner.run("Restart service %s" % name, SERVICE, {"name": name, "state": "restarted"})
        return "running", True, True
    if state == "started":
        result = runner.run("Start service %s" % name, SERVICE, {"name": name, "state": "started"})
        return "running", False, result.get("changed") is True
    return current, False, False


def logon_account_warning(version, service, account, account_switch):
    """A warning when this run moves a 3.x+ install's service to an account that is not built in, else None."""
    major = major_version(version)
    if not account_switch or account.kind == "builtin" or major is None or major < FIRST_VERSION_WITHOUT_LOGON_ACCOUNT:
        return None
    return ("MSE %s is installed: from 3.x the Windows logon account is not something Site Configure sets (a 4.5 "
            "install runs its service as NetworkService). Moving service %s from %s to %s is the operator's choice, "
            "not Mimecast's procedure; make sure that account can use MSE's data and log folders."
            % (version, service["name"], service.get("username") or "its current account", account.name))


def _diff(service, account_after, final_state, outcome, settings_diff):
    """The before/after of what this run manages; a password shows only as a placeholder."""
    before = {"service": service["name"], "account": service.get("username"), "state": service.get("state")}
    after = {"service": service["name"], "account": account_after, "state": final_state}
    if outcome["logon_right"] in ("granted", "held"):
        before["logon_right"] = outcome["logon_right"] == "held"
        after["logon_right"] = True
    if outcome["password_updated"]:
        before["password"] = HIDDEN_BEFORE
        after["password"] = NO_LOG_PLACEHOLDER
    if outcome["restarted"]:
        after["restarted"] = True
    settings_before, settings_after = settings_diff
    if settings_before or settings_after:
        before["settings"] = settings_before
        after["settings"] = settings_after
    return {"before": before, "after": after}


def run_site_account(runner, params):
    """Apply the Accounts tab settings; returns the result dict."""
    account = check_account(params)
    settings_plan = plan_settings(params)

    service = resolve_service(runner, params["service_name"])
    version, version_source = installed_version(uninstall_entries(runner, DEFAULT_PRODUCT_CODES))
    current_settings = read_settings(runner, settings_plan)

    logon_right, right_changed = grant_logon_right(runner, params, account)
    service_result = set_service_account(runner, params, account, service)
    service_changed = service_result.get("changed") is True
    password_updated = service_changed and account.needs_password
    account_switch = service_changed and not same_account(service.get("username"), account.name)
    reported_username = service_result.want("username", str, required=False)

    settings, settings_changed, settings_before, settings_after = write_settings(
        runner, settings_plan, current_settings)

    needs_restart = service_changed or settings_changed
    final_state, restarted, state_changed = settle_state(runner, params, service, needs_restart)
    restart_pending = needs_restart and not restarted and final_state == "running"

    if service_changed and not runner.check_mode and reported_username:
        account_after = reported_username
    else:
        account_after = account.name if account_switch else service.get("username")
    changed = right_changed or service_changed or settings_changed or state_changed

    result = {
        "changed": changed,
        "service": dict(service, username=account_after, state=final_state),
        "account": account.name,
        "account_type": account.kind,
        "logon_right": logon_right,
        "password_updated": password_updated,
        "restarted": restarted,
        "restart_pending": restart_pending,
        "settings": settings,
        "version": version,
        "version_source": version_source,
        "steps": runner.steps,
    }
    warning = logon_account_warning(version, service, account, account_switch)
    if warning:
        result["warnings"] = [warning]
    if runner.diff_mode:
        result["diff"] = _diff(service, account_after, final_state, result, (settings_before, settings_after))
    verb = "would be" if runner.check_mode else "was"
    result["msg"] = "Service %s %s configured to run as %s" % (service["name"], verb, account.name) if changed \
        else "Service %s already runs as %s" % (service["name"], account.name)
    return result
