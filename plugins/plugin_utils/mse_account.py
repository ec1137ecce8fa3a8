# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Site Configure's Accounts tab does, computed in plain Python and applied through ansible.windows.

The plan compares what win_service_info reports with what the task asks for; the apply
step asks win_user_right / win_service / win_regedit to change only what differs. Check
mode runs the same calls in check mode (the modules write nothing and say what would
change); diff mode shows account, state and mailbox settings, passwords as placeholders.
"""

from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils.mse_host import StepFailed, find_services

NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
DIRECTORY_TYPE = "Microsoft Office 365 Directory"
LOGON_RIGHT = "SeServiceLogonRight"
NOT_MANAGED_REASON = (
    "Mimecast does not publish where Site Configure stores the Microsoft Mailbox address, its password and the "
    "Directory Type; they are managed only through a settings_store you have verified on your install (see mse_site_info)")

# The one place the options are defined; the doc-only module documents exactly these.
ARGUMENT_SPEC = dict(
    account=dict(type="str", required=True),
    password=dict(type="str", no_log=True),
    update_password=dict(type="str", default="on_change", choices=["always", "on_change"]),
    service_name=dict(type="str"),
    state=dict(type="str", default="started", choices=["started", "stopped", "unchanged"]),
    restart=dict(type="bool", default=True),
    mailbox_address=dict(type="str"),
    mailbox_password=dict(type="str", no_log=True),
    directory_type=dict(type="str", default=DIRECTORY_TYPE),
    settings_store=dict(type="dict", options=dict(
        type=dict(type="str", required=True, choices=["registry"]),
        path=dict(type="str", required=True),
        mailbox_address_value=dict(type="str", required=True),
        directory_type_value=dict(type="str"),
        mailbox_password_value=dict(type="str"),
        mailbox_password_format=dict(type="str", choices=["plaintext"]),
    )),
)

# name (lower case) -> the name win_service and win_user_right understand
BUILTIN_ACCOUNTS = {
    "localsystem": "LocalSystem", "system": "LocalSystem", "nt authority\\system": "LocalSystem",
    ".\\localsystem": "LocalSystem",
    "networkservice": "NT AUTHORITY\\NetworkService", "nt authority\\networkservice": "NT AUTHORITY\\NetworkService",
    "nt authority\\network service": "NT AUTHORITY\\NetworkService",
    "localservice": "NT AUTHORITY\\LocalService", "nt authority\\localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\local service": "NT AUTHORITY\\LocalService",
}


def canonical_account(name):
    """Built-in accounts under one spelling; others as given."""
    name = (name or "").strip()
    return BUILTIN_ACCOUNTS.get(name.lower(), name)


def is_builtin(name):
    """LocalSystem, NetworkService, LocalService: no password, no logon right needed."""
    return (name or "").strip().lower() in BUILTIN_ACCOUNTS


def is_gmsa(name):
    """A group managed service account (DOMAIN\\name$): Windows manages its password."""
    return (name or "").strip().endswith("$")


def same_account(current, desired):
    """Case-insensitive, built-ins and '.\\user' == 'HOST\\user' == 'user' for local accounts."""
    current, desired = canonical_account(current).lower(), canonical_account(desired).lower()
    if current == desired:
        return True
    if desired.startswith(".\\") and "\\" in current:
        return current.split("\\", 1)[1] == desired[2:]
    if current.startswith(".\\") and "\\" in desired:
        return desired.split("\\", 1)[1] == current[2:]
    return False


def check_args(args):
    """Problems the argument spec cannot express; raises ValueError with the fix."""
    account = args["account"]
    needs_password = not is_builtin(account) and not is_gmsa(account)
    if not needs_password and args.get("password"):
        raise ValueError("account %s has no password (a built-in account or a gMSA): remove password" % account)
    store = args.get("settings_store")
    if store and store.get("mailbox_password_value") and store.get("mailbox_password_format") != "plaintext":
        raise ValueError("settings_store.mailbox_password_value is set but settings_store.mailbox_password_format is not: "
                         "only a password stored as plain text can be written; set mailbox_password_format: plaintext "
                         "only if you verified that your MSE stores it that way, otherwise leave mailbox_password_value out")
    if store and not store["path"].upper().startswith(("HKLM:\\", "HKCU:\\", "HKU:\\", "HKCR:\\", "HKCC:\\")):
        raise ValueError("settings_store.path must be a registry path such as HKLM:\\SOFTWARE\\..., got %s" % store["path"])
    return needs_password


def choose_service(host, service_name):
    """The one MSE service to manage, or a clear error."""
    services = find_services(host, service_name)
    if not services:
        if service_name:
            raise ValueError("no Windows service named %s on this host. Fix: check service_name with "
                             "mimecast_mse.sync_engine.mse_site_info" % service_name)
        raise ValueError("the Mimecast Synchronization Engine does not seem to be installed on this host: no service whose "
                         "name, display name or path mentions Mimecast or msesrv. Fix: install MSE first, or pass "
                         "service_name if its service is named differently")
    if len(services) > 1:
        raise ValueError("several services look like MSE (%s). Fix: pass service_name to pick one"
                         % ", ".join(sorted(service["name"] for service in services)))
    return services[0]


def configure_service(host, args, needs_password):
    """Logon right, service account and service state. Returns (changed, before, after)."""
    service = choose_service(host, args.get("service_name"))
    name, account = service["name"], canonical_account(args["account"])
    account_changes = not same_account(service.get("username"), account)
    if account_changes and needs_password and not args.get("password"):
        raise ValueError("password is required to make %s run as %s" % (name, account))
    set_password = needs_password and bool(args.get("password")) and (account_changes or args["update_password"] == "always")
    before = {"service": name, "account": service.get("username"), "state": service.get("state")}
    after = dict(before, account=account)
    changed = False
    if not is_builtin(account):
        right = host.run("grant %s to %s" % (LOGON_RIGHT, account), "ansible.windows.win_user_right",
                         {"name": LOGON_RIGHT, "users": [account], "action": "add"})
        changed |= bool(right.get("changed"))
        before["logon_right"] = "missing" if right.get("changed") else "granted"
        after["logon_right"] = "granted"
    if account_changes or set_password:
        service_args = {"name": name, "username": account}
        if set_password:
            service_args.update(password=args["password"], update_password="always")
            after["password"] = NO_LOG_PLACEHOLDER
        result = host.run("set the logon account of service %s" % name, "ansible.windows.win_service", service_args)
        changed |= bool(result.get("changed"))
    state = args["state"]
    if state != "unchanged":
        wanted = "restarted" if state == "started" and changed and args["restart"] else state
        result = host.run("make service %s %s" % (name, wanted), "ansible.windows.win_service", {"name": name, "state": wanted})
        changed |= bool(result.get("changed"))
        after["state"] = "started" if wanted == "restarted" else state
    return changed, before, after


def configure_mailbox_settings(host, args):
    """Microsoft Mailbox address/password and Directory Type, only through a verified settings store."""
    store = args.get("settings_store")
    wanted = {"mailbox_address": args.get("mailbox_address"), "directory_type": args.get("directory_type")}
    if not store:
        return False, {"managed": False, "reason": NOT_MANAGED_REASON}, None
    values = {"mailbox_address": store["mailbox_address_value"], "directory_type": store.get("directory_type_value")}
    before, after, changed = {}, {}, False
    for field, value_name in values.items():
        if not value_name or wanted[field] is None:
            continue
        current = host.run("read %s\\%s" % (store["path"], value_name), "ansible.windows.win_reg_stat",
                           {"path": store["path"], "name": value_name})
        before[field] = current.get("value") if current.get("exists") else None
        after[field] = wanted[field]
        if before[field] != wanted[field]:
            result = host.run("write %s\\%s" % (store["path"], value_name), "ansible.windows.win_regedit",
                              {"path": store["path"], "name": value_name, "data": wanted[field], "type": "string"})
            changed |= bool(result.get("changed"))
    password_value = store.get("mailbox_password_value")
    if password_value and args.get("mailbox_password"):
        address_changed = before.get("mailbox_address") != after.get("mailbox_address")
        if address_changed or args["update_password"] == "always":
            # The stored password cannot be compared, so it is written only with a new address or when asked.
            result = host.run("write %s\\%s" % (store["path"], password_value), "ansible.windows.win_regedit",
                              {"path": store["path"], "name": password_value, "data": args["mailbox_password"],
                               "type": "string"})
            changed |= bool(result.get("changed"))
            after["mailbox_password"] = NO_LOG_PLACEHOLDER
    summary = {"managed": True, "store": {"type": store["type"], "path": store["path"]},
               "password_managed": bool(password_value)}
    return changed, summary, (before, after)


def run(host, args):
    """The whole task: returns the action plugin's result.

    The called modules run in the task's check mode themselves (they write nothing and
    report what would change), so check mode needs no branch here.
    """
    try:
        needs_password = check_args(args)
        changed, before, after = configure_service(host, args, needs_password)
        mailbox_changed, mailbox, mailbox_diff = configure_mailbox_settings(host, args)
    except ValueError as exc:
        return {"failed": True, "msg": str(exc)}
    except StepFailed as exc:
        return {"failed": True, "msg": str(exc), "step": exc.step}
    if mailbox_diff:
        before["microsoft_mailbox"], after["microsoft_mailbox"] = mailbox_diff
    result = {
        "changed": changed or mailbox_changed,
        "service": {"name": before["service"], "account": after["account"], "state": after.get("state")},
        "microsoft_mailbox": mailbox,
        "diff": {"before": before, "after": after},
    }
    if not mailbox["managed"] and (args.get("mailbox_address") or args.get("mailbox_password")):
        result["warnings"] = ["mailbox_address and mailbox_password were not applied: " + NOT_MANAGED_REASON]
    return result
