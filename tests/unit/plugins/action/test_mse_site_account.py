# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mse_site_account against the fake Windows host; every call is contract-checked."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.action import mse_site_account
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse import site_account as site_account_logic

PASSWORD = "S3cret-Pa55!"
NEW_PASSWORD = "N3w-Pa55!w0rd"
MAILBOX_PASSWORD = "Mailb0x-Pa55!"
STORE_KEY = "HKLM:\\SOFTWARE\\Mimecast\\Verified"
STORE = {"type": "registry", "path": STORE_KEY, "mailbox_address_value": "MailboxAddress",
         "mailbox_password_value": "MailboxPassword", "directory_type_value": "DirectoryType",
         "password_storage": "plaintext", "verified": True}
PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\mimecast-sync-engine"
UNINSTALL32 = "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\mimecast-sync-engine"


@pytest.fixture
def mse(host):
    """A host with MSE 4.5 installed, running as NetworkService, and a domain service account."""
    host.add_account("S-1-5-21-1-1001", "CONTOSO\\svc-mse", "svc-mse@contoso.com", password=PASSWORD)
    host.add_account("S-1-5-21-1-1002", "CONTOSO\\svc-other", password="0ther-Pa55!")
    host.add_account("S-1-5-21-1-1003", "CONTOSO\\gmsa-mse$", password=None)
    host.add_account("S-1-5-21-9-1001", "MSE01\\svc-local", password=PASSWORD)
    host.add_service("msesrv", display_name="Mimecast Synchronization Engine",
                     path='"C:\\Program Files\\Mimecast\\MSE\\msesrv.exe"')
    host.add_service("Spooler", username="LocalSystem", path="C:\\Windows\\System32\\spoolsv.exe")
    return host


def configure(run_action, host, check_mode=False, diff=False, **args):
    args.setdefault("account", "CONTOSO\\svc-mse")
    if "password" not in args:
        args["password"] = PASSWORD
    args = {key: value for key, value in args.items() if value is not None}
    return run_action(mse_site_account, host, args, check_mode=check_mode, diff=diff)


def assert_no_secret(result, *secrets):
    text = json.dumps(result)
    for secret in secrets or (PASSWORD, NEW_PASSWORD, MAILBOX_PASSWORD):
        assert secret not in text, "a secret leaked into the result"


def test_fresh_host_gets_logon_right_account_and_one_restart(run_action, mse):
    result = configure(run_action, mse)
    assert result["changed"] is True and not result.get("failed"), result
    service = mse.services["msesrv"]
    assert service["username"] == "CONTOSO\\svc-mse" and service["password"] == PASSWORD
    assert service["state"] == "running"
    assert "S-1-5-21-1-1001" in mse.rights["SeServiceLogonRight"]
    assert result["logon_right"] == "granted" and result["password_updated"] is True
    assert result["restarted"] is True and result["restart_pending"] is False
    assert result["service"]["username"] == "CONTOSO\\svc-mse"
    assert [c.args.get("state") for c in mse.calls_to("win_service")] == [None, "restarted"]
    assert result["settings"]["status"] == "not_managed"
    assert_no_secret(result)


def test_secret_carrying_calls_run_with_no_log(run_action, mse):
    configure(run_action, mse)
    with_password = [call for call in mse.calls if "password" in call.args]
    assert with_password and all(call.no_log for call in with_password)
    assert all(not call.no_log for call in mse.calls if "password" not in call.args)


def test_configured_host_is_unchanged_and_not_restarted(run_action, mse):
    configure(run_action, mse)
    mse.calls.clear()
    result = configure(run_action, mse, diff=True)
    assert result["changed"] is False, result
    assert result["logon_right"] == "held" and result["password_updated"] is False
    assert result["restarted"] is False
    assert not [call for call in mse.calls if call.args.get("state") == "restarted"]
    assert result["diff"]["before"] == result["diff"]["after"]
    assert "Service msesrv already runs as CONTOSO\\svc-mse" == result["msg"]


def test_upn_for_the_configured_account_is_no_change(run_action, mse):
    configure(run_action, mse)
    result = configure(run_action, mse, account="svc-mse@contoso.com")
    assert result["changed"] is False, result


def test_password_rotation_needs_update_password_always(run_action, mse):
    configure(run_action, mse)
    mse.account_passwords["S-1-5-21-1-1001"] = NEW_PASSWORD  # rotated in AD
    result = configure(run_action, mse, password=NEW_PASSWORD)
    assert result["changed"] is False, "on_change cannot see a new password: nothing is set"
    assert mse.services["msesrv"]["password"] == PASSWORD
    result = configure(run_action, mse, password=NEW_PASSWORD, update_password="always", diff=True)
    assert result["changed"] is True and result["password_updated"] is True and result["restarted"] is True
    assert mse.services["msesrv"]["password"] == NEW_PASSWORD
    assert mse.calls_to("win_service")[-2].args["update_password"] == "always"
    assert result["diff"]["after"]["password"] == PLACEHOLDER
    assert_no_secret(result)


def test_account_change_sets_password_and_restarts(run_action, mse):
    configure(run_action, mse)
    result = configure(run_action, mse, account="CONTOSO\\svc-other", password="0ther-Pa55!")
    assert result["changed"] is True
    assert mse.services["msesrv"]["username"] == "CONTOSO\\svc-other"
    assert mse.services["msesrv"]["password"] == "0ther-Pa55!"
    assert mse.calls_to("win_service")[-2].args["update_password"] == "on_create"
    assert result["restarted"] is True
    assert_no_secret(result, "0ther-Pa55!")


def test_user_account_without_password_is_refused_before_any_call(run_action, mse):
    result = configure(run_action, mse, password=None)
    assert result["failed"] is True and "password is required" in result["msg"]
    assert not mse.calls


def test_local_account(run_action, mse):
    result = configure(run_action, mse, account=".\\svc-local")
    assert result["changed"] is True and result["account_type"] == "local", result
    assert mse.services["msesrv"]["username"] == "MSE01\\svc-local"


@pytest.mark.parametrize("account, expected", [
    ("LocalSystem", "LocalSystem"),
    ("NetworkService", "NT AUTHORITY\\NetworkService"),
    ("NT AUTHORITY\\NETWORK SERVICE", "NT AUTHORITY\\NetworkService"),
])
def test_builtin_accounts_take_no_password_and_no_user_right(run_action, mse, account, expected):
    result = configure(run_action, mse, account=account, password=None)
    assert not result.get("failed"), result
    assert result["account"] == expected and result["logon_right"] == "not_needed"
    assert not mse.calls_to("win_user_right")
    assert all("password" not in call.args for call in mse.calls)
    assert mse.services["msesrv"]["username"] == mse.display[mse.resolve(expected)]


def test_builtin_account_with_password_is_refused(run_action, mse):
    result = configure(run_action, mse, account="LocalSystem", password=PASSWORD)
    assert result["failed"] is True and "takes no password" in result["msg"]
    assert_no_secret(result)


def test_gmsa_gets_the_logon_right_but_no_password(run_action, mse):
    result = configure(run_action, mse, account="CONTOSO\\gmsa-mse$", password=None)
    assert not result.get("failed"), result
    assert result["account_type"] == "gmsa" and result["logon_right"] == "granted"
    assert all("password" not in call.args for call in mse.calls)


def test_check_mode_writes_nothing_and_reports_the_change(run_action, mse):
    before = mse.snapshot()
    result = configure(run_action, mse, check_mode=True, diff=True)
    assert result["changed"] is True and result["restarted"] is True, result
    assert mse.snapshot() == before
    assert all(call.check_mode for call in mse.calls)
    assert "would be" in result["msg"]
    assert result["diff"]["after"]["account"] == "CONTOSO\\svc-mse"
    assert result["diff"]["before"]["account"] == "NT AUTHORITY\\NetworkService"
    assert_no_secret(result)


def test_diff_shows_placeholders_and_no_secret(run_action, mse):
    mse.add_key(STORE_KEY, MailboxAddress="old@contoso.com", MailboxPassword="old-secret", DirectoryType="AD")
    result = configure(run_action, mse, diff=True, mailbox_address="svc-mse@contoso.com",
                       mailbox_password=MAILBOX_PASSWORD, directory_type="O365", settings_store=STORE)
    diff = result["diff"]
    assert diff["after"]["password"] == PLACEHOLDER
    assert diff["after"]["settings"]["mailbox_password"] == PLACEHOLDER
    assert diff["before"]["settings"]["mailbox_address"] == "old@contoso.com"
    assert diff["after"]["settings"]["mailbox_address"] == "svc-mse@contoso.com"
    assert diff["before"]["logon_right"] is False and diff["after"]["logon_right"] is True
    assert_no_secret(result, PASSWORD, MAILBOX_PASSWORD, "old-secret")


def test_without_settings_store_mailbox_settings_are_not_managed(run_action, mse):
    result = configure(run_action, mse, mailbox_address="svc-mse@contoso.com", mailbox_password=MAILBOX_PASSWORD,
                       directory_type="O365")
    assert not result.get("failed"), result
    assert result["settings"]["status"] == "not_managed"
    assert result["settings"]["not_written"] == ["mailbox_address", "mailbox_password", "directory_type"]
    assert "does not publish" in result["settings"]["msg"]
    assert not mse.calls_to("win_regedit")
    assert [call.args["path"] for call in mse.calls_to("win_reg_stat")] == [UNINSTALL, UNINSTALL32]
    assert "warnings" not in result
    assert_no_secret(result)


def test_settings_store_writes_through_win_regedit_once(run_action, mse):
    mse.add_key(STORE_KEY)
    args = dict(mailbox_address="svc-mse@contoso.com", mailbox_password=MAILBOX_PASSWORD, directory_type="O365",
                settings_store=STORE)
    configure(run_action, mse)
    result = configure(run_action, mse, **args)
    assert result["changed"] is True and result["restarted"] is True, result
    values = mse.registry[STORE_KEY.lower()]["values"]
    assert values == {"MailboxAddress": ("REG_SZ", "svc-mse@contoso.com"),
                      "MailboxPassword": ("REG_SZ", MAILBOX_PASSWORD), "DirectoryType": ("REG_SZ", "O365")}
    writes = mse.calls_to("win_regedit")
    assert [call.no_log for call in writes] == [False, True, False]
    assert result["settings"]["fields"]["mailbox_password"] == {"status": "managed", "value_name": "MailboxPassword",
                                                                "changed": True}
    assert_no_secret(result)
    again = configure(run_action, mse, **args)
    assert again["changed"] is False and again["restarted"] is False, again


def test_settings_store_key_must_exist_before_anything_changes(run_action, mse):
    result = configure(run_action, mse, mailbox_address="svc-mse@contoso.com", settings_store=STORE)
    assert result["failed"] is True and "does not exist" in result["msg"] and "never creates" in result["msg"]
    assert result["changed"] is False and not mse.writes()
    assert mse.services["msesrv"]["username"] == "NT AUTHORITY\\NetworkService"


def test_settings_store_must_be_marked_verified_before_any_call(run_action, mse):
    mse.add_key(STORE_KEY)
    result = configure(run_action, mse, mailbox_address="svc-mse@contoso.com",
                       settings_store=dict(STORE, verified=False))
    assert result["failed"] is True and "verified=true" in result["msg"]
    assert result["changed"] is False and not mse.calls


def test_mailbox_password_needs_plaintext_statement(run_action, mse):
    mse.add_key(STORE_KEY)
    store = {key: value for key, value in STORE.items() if key != "password_storage"}
    result = configure(run_action, mse, mailbox_password=MAILBOX_PASSWORD, settings_store=store)
    assert result["failed"] is True and "password_storage=plaintext" in result["msg"]
    assert not mse.calls
    assert_no_secret(result)


@pytest.mark.parametrize("clash", [
    {"mailbox_address_value": "MailboxPassword"},
    {"mailbox_address_value": "mailboxpassword"},  # Windows ignores the case of value names
    {"directory_type_value": "MailboxAddress"},
])
def test_settings_store_value_names_must_be_distinct(run_action, mse, clash):
    mse.add_key(STORE_KEY, MailboxAddress="old@contoso.com", MailboxPassword="old-secret", DirectoryType="AD")
    result = configure(run_action, mse, diff=True, mailbox_address="svc-mse@contoso.com", directory_type="O365",
                       settings_store=dict(STORE, **clash))
    assert result["failed"] is True and "both name the registry value" in result["msg"], result
    assert "own value" in result["msg"] and "not case-sensitive" in result["msg"]
    assert result["changed"] is False and not mse.calls
    assert_no_secret(result, "old-secret")


def test_the_stored_password_is_never_read_into_the_diff(run_action, mse):
    mse.add_key(STORE_KEY, MailboxAddress="old@contoso.com", MailboxPassword="old-secret", Other="other")
    result = configure(run_action, mse, diff=True, mailbox_address="svc-mse@contoso.com", settings_store=STORE)
    assert not result.get("failed"), result
    assert result["diff"]["before"]["settings"] == {"mailbox_address": "old@contoso.com"}
    assert result["diff"]["after"]["settings"] == {"mailbox_address": "svc-mse@contoso.com"}
    store_reads = [call for call in mse.calls_to("win_reg_stat") if call.args["path"] == STORE_KEY]
    assert store_reads and all(call.no_log for call in store_reads)
    assert_no_secret(result, "old-secret")


def test_the_diff_matches_a_value_name_whatever_its_case(run_action, mse):
    mse.add_key(STORE_KEY, mailboxaddress="old@contoso.com")
    result = configure(run_action, mse, diff=True, mailbox_address="svc-mse@contoso.com", settings_store=STORE)
    assert result["diff"]["before"]["settings"] == {"mailbox_address": "old@contoso.com"}


def test_mse_not_installed_is_a_clear_error(run_action, host):
    host.add_service("Spooler", username="LocalSystem")
    result = configure(run_action, host)
    assert result["failed"] is True and result["changed"] is False
    assert "does not seem to be installed" in result["msg"] and "service_name" in result["msg"]
    assert not host.writes()


def test_missing_named_service_is_a_clear_error(run_action, mse):
    result = configure(run_action, mse, service_name="MimecastSync")
    assert result["failed"] is True and "'MimecastSync' does not exist" in result["msg"]


def test_service_found_by_search_when_not_msesrv(run_action, host):
    host.add_account("S-1-5-21-1-1001", "CONTOSO\\svc-mse", password=PASSWORD)
    host.add_service("MimecastSyncEngine", display_name="Mimecast Synchronization Engine")
    result = configure(run_action, host)
    assert result["changed"] is True and result["service"]["name"] == "MimecastSyncEngine", result


def test_several_candidates_ask_for_service_name(run_action, host):
    host.add_service("MimecastA", display_name="Mimecast Synchronization Engine")
    host.add_service("MimecastB", display_name="Mimecast Synchronization Engine (old)")
    result = configure(run_action, host)
    assert result["failed"] is True and "MimecastA, MimecastB" in result["msg"] and "service_name" in result["msg"]


def test_restart_false_leaves_a_pending_restart(run_action, mse):
    result = configure(run_action, mse, restart=False)
    assert result["changed"] is True and result["restarted"] is False and result["restart_pending"] is True
    assert not [call for call in mse.calls if call.args.get("state") == "restarted"]


def test_state_stopped_stops_without_restart(run_action, mse):
    result = configure(run_action, mse, state="stopped")
    assert result["changed"] is True and mse.services["msesrv"]["state"] == "stopped"
    assert [c.args.get("state") for c in mse.calls_to("win_service")] == [None, "stopped"]


def test_state_started_starts_a_stopped_unchanged_service(run_action, mse):
    configure(run_action, mse, state="stopped")
    result = configure(run_action, mse)
    assert result["changed"] is True and result["restarted"] is False
    assert mse.services["msesrv"]["state"] == "running"


def test_state_unchanged_leaves_a_stopped_service_stopped(run_action, mse):
    mse.services["msesrv"]["state"] = "stopped"
    result = configure(run_action, mse, state="unchanged")
    assert result["changed"] is True and mse.services["msesrv"]["state"] == "stopped"
    assert result["restarted"] is False and result["restart_pending"] is False


def test_grant_logon_right_false_skips_win_user_right(run_action, mse):
    mse.rights["SeServiceLogonRight"] = {"S-1-5-21-1-1001"}  # held through Group Policy
    result = configure(run_action, mse, grant_logon_right=False)
    assert result["logon_right"] == "not_managed" and not mse.calls_to("win_user_right")
    assert result["changed"] is True


@pytest.mark.parametrize("module, step", [
    ("ansible.windows.win_service_info", "Read service msesrv failed (ansible.windows.win_service_info)"),
    ("ansible.windows.win_user_right", "Grant SeServiceLogonRight to CONTOSO\\svc-mse failed"),
    ("ansible.windows.win_service", "Set the account of service msesrv failed (ansible.windows.win_service)"),
])
def test_module_failures_name_the_step(run_action, mse, module, step):
    mse.fail[module] = "Access is denied"
    result = configure(run_action, mse)
    assert result["failed"] is True and step in result["msg"] and "Access is denied" in result["msg"], result
    assert result["steps"][-1]["failed"] is True


def test_failed_restart_reports_what_already_changed(run_action, mse):
    mse.fail[("ansible.windows.win_service", lambda args: args.get("state") == "restarted")] = "logon failure"
    result = configure(run_action, mse)
    assert result["failed"] is True and result["changed"] is True
    assert "Restart service msesrv failed" in result["msg"]


def test_a_secret_echoed_in_a_module_error_is_scrubbed(run_action, mse):
    mse.fail["ansible.windows.win_service"] = "bad password %s" % PASSWORD
    result = configure(run_action, mse)
    assert result["failed"] is True and PLACEHOLDER in result["msg"]
    assert_no_secret(result)


def test_unknown_account_fails_like_windows_does(run_action, mse):
    result = configure(run_action, mse, account="CONTOSO\\nobody")
    assert result["failed"] is True and "could not be translated" in result["msg"]
    assert "Grant SeServiceLogonRight" in result["msg"]


def test_invalid_options_are_rejected_without_echoing_secrets(run_action, mse):
    result = configure(run_action, mse, update_password="sometimes")
    assert result["failed"] is True and "update_password" in result["msg"]
    result = configure(run_action, mse, colour="blue")
    assert result["failed"] is True and "colour" in result["msg"]
    assert_no_secret(result)
    assert not mse.calls


# ------------------------------------------------------------------ installed version
@pytest.fixture
def mse45(mse):
    """The 4.5 install as a public note and the winget manifest describe it."""
    return mse.add_key(UNINSTALL, DisplayName="Mimecast Synchronization Engine", DisplayVersion="4.5.0.525")


def test_moving_a_4_5_install_off_its_built_in_account_warns(run_action, mse45):
    result = configure(run_action, mse45)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["version"] == "4.5.0.525"
    assert result["version_source"] == "registry %s, value DisplayVersion" % UNINSTALL
    [warning] = result["warnings"]
    assert "MSE 4.5.0.525" in warning and "not something Site Configure sets" in warning
    assert "from NT AUTHORITY\\NetworkService to CONTOSO\\svc-mse" in warning and "operator's choice" in warning
    assert_no_secret(result)


def test_the_warning_comes_in_check_mode_too(run_action, mse45):
    before = mse45.snapshot()
    result = configure(run_action, mse45, check_mode=True)
    assert result["changed"] is True and len(result["warnings"]) == 1
    assert mse45.snapshot() == before


def test_no_warning_when_nothing_changes_or_for_a_built_in_account(run_action, mse45):
    configure(run_action, mse45)
    again = configure(run_action, mse45)
    assert again["changed"] is False and "warnings" not in again
    back = configure(run_action, mse45, account="NetworkService", password=None)
    assert back["changed"] is True and "warnings" not in back


@pytest.mark.parametrize("version, warns", [("3.0.4", True), ("2.9.1", False), ("v4.5", True), ("beta", False)])
def test_the_warning_depends_on_the_major_version(run_action, mse, version, warns):
    mse.add_key(UNINSTALL32, DisplayVersion=version)
    result = configure(run_action, mse)
    assert result["version"] == version and "WOW6432Node" in result["version_source"]
    assert ("warnings" in result) is warns


def test_unknown_version_is_reported_and_does_not_warn(run_action, mse):
    result = configure(run_action, mse)
    assert result["version"] == "unknown" and result["version_source"] is None
    assert "warnings" not in result


# -------------------------------------------------------- results the plugin cannot read
def _services(reshape):
    return lambda result: dict(result, services=[reshape(service) for service in result["services"]])


@pytest.mark.parametrize("module, reshape, detail", [
    ("ansible.windows.win_service_info", lambda r: dict(r, services="msesrv"),
     "'services' is a string, expected a list"),
    ("ansible.windows.win_service_info", lambda r: dict(r, services=["msesrv"]), "services[0] is a string"),
    ("ansible.windows.win_service_info", _services(lambda s: dict(s, username=["CONTOSO\\svc"])),
     "'services[0].username' is a list, expected a string"),
    ("ansible.windows.win_service_info", lambda r: {"changed": False, "exists": True}, "'services' is missing"),
    ("ansible.windows.win_reg_stat", lambda r: {"changed": False}, "'exists' is missing"),
    ("ansible.windows.win_reg_stat", lambda r: {"changed": False, "exists": True, "properties": ["DisplayVersion"]},
     "'properties' is a list, expected a dict"),
    ("ansible.windows.win_reg_stat", lambda r: "exists", "the result is a string, not a dict"),
], ids=["services-string", "service-string", "username-list", "services-missing", "exists-missing",
        "properties-list", "result-string"])
def test_unreadable_results_of_reads_fail_before_any_change(run_action, mse, module, reshape, detail):
    mse.reshape[module] = reshape
    result = configure(run_action, mse)
    assert result["failed"] is True and result["changed"] is False, result
    assert "unexpected result from the module" in result["msg"] and detail in result["msg"]
    assert module in result["msg"] and result["steps"][-1]["module"] == module
    assert not mse.writes()


def test_unreadable_settings_store_key_fails_before_any_change(run_action, mse):
    mse.add_key(STORE_KEY, MailboxAddress="old@contoso.com")
    mse.reshape[("ansible.windows.win_reg_stat", lambda args: args["path"] == STORE_KEY)] = \
        lambda r: dict(r, properties=list(r["properties"]))
    result = configure(run_action, mse, mailbox_address="svc-mse@contoso.com", settings_store=STORE)
    assert result["failed"] is True and result["changed"] is False
    assert "Check settings store key" in result["msg"] and "'properties' is a list" in result["msg"]
    assert not mse.writes()


def _set_account(args):
    return "username" in args


@pytest.mark.parametrize("key, reshape, detail", [
    (("ansible.windows.win_service", _set_account), lambda r: dict(r, username=["CONTOSO\\svc-mse"]),
     "'username' is a list, expected a string"),
    (("ansible.windows.win_service", _set_account), lambda r: "done", "the result is a string, not a dict"),
    ("ansible.windows.win_user_right", lambda r: dict(r, changed="yes"), "'changed' is a string, expected a boolean"),
    ("ansible.windows.win_regedit", lambda r: ["changed"], "the result is a list, not a dict"),
], ids=["username-list", "set-account-string", "changed-string", "regedit-list"])
def test_unreadable_results_after_a_change_report_what_changed(run_action, mse, key, reshape, detail):
    mse.add_key(STORE_KEY)
    mse.reshape[key] = reshape
    result = configure(run_action, mse, mailbox_address="svc-mse@contoso.com", settings_store=STORE)
    assert result["failed"] is True and detail in result["msg"], result
    assert result["changed"] is True and result["steps"][-1]["failed"] is True
    assert result["steps"][0]["step"].startswith("Read service")
    assert any(step["changed"] for step in result["steps"])
    assert not [call for call in mse.calls if call.args.get("state") == "restarted"]
    assert_no_secret(result)


def test_an_unexpected_error_still_reports_what_changed(run_action, mse, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom near %s" % PASSWORD)
    monkeypatch.setattr(site_account_logic, "write_settings", broken)
    result = configure(run_action, mse)
    assert result["failed"] is True and result["changed"] is True, result
    assert "Unexpected error after step 'Set the account of service msesrv'" in result["msg"]
    assert "RuntimeError" in result["msg"] and "RuntimeError" in result["exception"]
    assert [step["step"] for step in result["steps"]][-1] == "Set the account of service msesrv"
    assert_no_secret(result)
