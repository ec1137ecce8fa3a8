"""mse_site_account against a fake Windows host (calls checked against ansible.windows' documented options)."""
from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.action import mse_site_account
from fake_host import FakeWindowsHost  # pylint: disable=import-error

PASSWORD = "S3cret-Pa55!"
MAILBOX_PASSWORD = "Mailb0x-Pa55!"
MSE = {"name": "msesrv", "display_name": "Mimecast Synchronization Engine", "path": "C:\\Program Files\\Mimecast\\mse.exe",
       "start_mode": "auto", "state": "started", "username": "NT AUTHORITY\\NetworkService"}
STORE = {"type": "registry", "path": "HKLM:\\SOFTWARE\\Mimecast\\Verified", "mailbox_address_value": "MailboxAddress",
         "directory_type_value": "DirectoryType", "mailbox_password_value": "MailboxPassword",
         "mailbox_password_format": "plaintext"}


def fresh_host(**extra):
    return FakeWindowsHost(services=[MSE, {"name": "Spooler", "display_name": "Print Spooler", "path": "spoolsv.exe",
                                           "start_mode": "auto", "state": "started", "username": "LocalSystem"}], **extra)


def configure(run_action, host, check_mode=False, diff=False, **args):
    args.setdefault("account", "CONTOSO\\svc-mse")
    args.setdefault("password", PASSWORD)
    return run_action(mse_site_account, host, args, check_mode=check_mode, diff=diff)


def assert_no_secret(result):
    text = json.dumps(result)
    assert PASSWORD not in text and MAILBOX_PASSWORD not in text


def test_fresh_host_gets_account_logon_right_and_a_restart(run_action):
    host = fresh_host()
    result = configure(run_action, host, diff=True)
    assert result["changed"] is True, result
    service = host.services["msesrv"]
    assert service["username"] == "CONTOSO\\svc-mse" and service["state"] == "started"
    assert host.passwords["msesrv"] == PASSWORD
    assert "CONTOSO\\svc-mse" in host.rights["SeServiceLogonRight"]
    assert ("ansible.windows.win_service", {"name": "msesrv", "state": "restarted"}, False) in host.calls
    assert result["diff"]["before"]["account"] == "NT AUTHORITY\\NetworkService"
    assert result["diff"]["after"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["microsoft_mailbox"]["managed"] is False
    assert_no_secret(result)


def test_configured_host_reports_no_change_and_is_not_restarted(run_action):
    host = fresh_host()
    configure(run_action, host)
    host.calls.clear()
    result = configure(run_action, host)
    assert result["changed"] is False, result
    assert not [call for call in host.calls if call[1].get("state") == "restarted" or "password" in call[1]]


def test_password_rotation_sets_it_and_restarts(run_action):
    host = fresh_host()
    configure(run_action, host)
    result = configure(run_action, host, password="N3w-Pa55!", update_password="always")
    assert result["changed"] is True
    assert host.passwords["msesrv"] == "N3w-Pa55!"
    assert host.calls[-1][1] == {"name": "msesrv", "state": "restarted"}


def test_account_change_needs_a_password(run_action):
    host = fresh_host()
    configure(run_action, host)
    result = configure(run_action, host, account="CONTOSO\\svc-other", password=None)
    assert result.get("failed") and "password is required" in result["msg"]
    result = configure(run_action, host, account="CONTOSO\\svc-other", password="0ther-Pa55!")
    assert result["changed"] is True and host.services["msesrv"]["username"] == "CONTOSO\\svc-other"


@pytest.mark.parametrize("account", ["LocalSystem", "NetworkService", "NT AUTHORITY\\NetworkService"])
def test_builtin_accounts_need_no_password_or_logon_right(run_action, account):
    host = fresh_host()
    result = configure(run_action, host, account=account, password=None)
    assert not result.get("failed"), result
    assert not any(call[0].endswith("win_user_right") for call in host.calls)
    assert not any("password" in call[1] for call in host.calls)
    assert result["changed"] is (account == "LocalSystem")


def test_gmsa_gets_the_logon_right_but_no_password(run_action):
    host = fresh_host()
    result = configure(run_action, host, account="CONTOSO\\gmsa-mse$", password=None)
    assert result["changed"] is True
    assert "CONTOSO\\gmsa-mse$" in host.rights["SeServiceLogonRight"]
    assert not any("password" in call[1] for call in host.calls)


def test_check_mode_writes_nothing_and_reports_the_change(run_action):
    host = fresh_host()
    result = configure(run_action, host, check_mode=True, diff=True)
    assert result["changed"] is True
    assert host.services["msesrv"]["username"] == "NT AUTHORITY\\NetworkService"
    assert "SeServiceLogonRight" not in host.rights or not host.rights["SeServiceLogonRight"]
    assert all(check for _module, _args, check in host.calls)
    assert result["diff"]["after"]["account"] == "CONTOSO\\svc-mse"
    assert_no_secret(result)


def test_mse_not_installed_is_a_clear_error(run_action):
    host = FakeWindowsHost(services=[{"name": "Spooler", "display_name": "Print Spooler", "path": "spoolsv.exe",
                                      "start_mode": "auto", "state": "started", "username": "LocalSystem"}])
    result = configure(run_action, host)
    assert result["failed"] and "does not seem to be installed" in result["msg"]
    assert host.writes() == []
    result = configure(run_action, host, service_name="mse2")
    assert result["failed"] and "no Windows service named mse2" in result["msg"]


def test_a_failing_module_is_named_in_the_message(run_action):
    host = fresh_host()
    host.fail["ansible.windows.win_user_right"] = "Access is denied"
    result = configure(run_action, host)
    assert result["failed"] and result["step"] == "grant SeServiceLogonRight to CONTOSO\\svc-mse"
    assert "Access is denied" in result["msg"] and "win_user_right" in result["msg"]
    assert_no_secret(result)


def test_mailbox_settings_are_not_managed_without_a_store(run_action):
    host = fresh_host()
    result = configure(run_action, host, mailbox_address="svc-mse@contoso.com", mailbox_password=MAILBOX_PASSWORD)
    assert result["microsoft_mailbox"]["managed"] is False
    assert "were not applied" in result["warnings"][0]
    assert not any(call[0].endswith("win_regedit") for call in host.calls)
    assert_no_secret(result)


def test_mailbox_settings_through_a_verified_registry_store(run_action):
    host = fresh_host(registry={STORE["path"]: {"values": {"MailboxAddress": "old@contoso.com"}}})
    result = configure(run_action, host, diff=True, mailbox_address="svc-mse@contoso.com", mailbox_password=MAILBOX_PASSWORD,
                       settings_store=STORE)
    assert result["changed"] is True
    values = host.registry[STORE["path"]]["values"]
    assert values == {"MailboxAddress": "svc-mse@contoso.com", "DirectoryType": "Microsoft Office 365 Directory",
                      "MailboxPassword": MAILBOX_PASSWORD}
    assert result["diff"]["before"]["microsoft_mailbox"]["mailbox_address"] == "old@contoso.com"
    assert result["diff"]["after"]["microsoft_mailbox"]["mailbox_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert_no_secret(result)
    again = configure(run_action, host, mailbox_address="svc-mse@contoso.com", mailbox_password=MAILBOX_PASSWORD,
                      settings_store=STORE)
    assert again["changed"] is False


def test_password_store_without_a_verified_format_is_refused(run_action):
    host = fresh_host()
    store = dict(STORE)
    del store["mailbox_password_format"]
    result = configure(run_action, host, mailbox_address="a@contoso.com", settings_store=store)
    assert result["failed"] and "mailbox_password_format" in result["msg"]
    assert host.writes() == []


def test_several_candidate_services_ask_for_service_name(run_action):
    second = dict(MSE, name="msesrv2")
    host = FakeWindowsHost(services=[MSE, second])
    result = configure(run_action, host)
    assert result["failed"] and "pass service_name" in result["msg"]
    result = configure(run_action, host, service_name="msesrv2")
    assert result["changed"] is True and host.services["msesrv2"]["username"] == "CONTOSO\\svc-mse"
