"""mse_site_info: read-only discovery against a fake Windows host."""
from __future__ import annotations

import json

from ansible_collections.mimecast_mse.sync_engine.plugins.action import mse_site_info
from fake_host import FakeWindowsHost  # pylint: disable=import-error

DATA = "C:\\ProgramData\\Mimecast Synchronisation Engine"
INSTALL = "C:\\Program Files\\Mimecast Synchronization Engine"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\mimecast-sync-engine"


def installed_host():
    return FakeWindowsHost(
        services=[
            {"name": "msesrv", "display_name": "Mimecast Synchronization Engine", "path": '"%s\\mse.exe" -service' % INSTALL,
             "start_mode": "auto", "state": "started", "username": "NT AUTHORITY\\NetworkService"},
            {"name": "Spooler", "display_name": "Print Spooler", "path": "spoolsv.exe", "start_mode": "auto",
             "state": "started", "username": "LocalSystem"},
        ],
        registry={
            UNINSTALL: {"values": {"DisplayName": "Mimecast Synchronization Engine", "DisplayVersion": "4.5.0.525",
                                   "InstallLocation": INSTALL, "Publisher": "Mimecast"}},
            "HKLM:\\SOFTWARE\\Mimecast": {"values": {"AccountPassword": "do-not-leak"}, "sub_keys": ["SyncEngine"]},
        },
        folders=[DATA, INSTALL],
        files=[DATA + "\\State\\site.config", DATA + "\\Logs\\mse.log", INSTALL + "\\mse.exe.config", INSTALL + "\\mse.exe"],
    )


def test_finds_service_version_folders_settings_files_and_keys(run_action):
    host = installed_host()
    result = run_action(mse_site_info, host, {})
    assert result["changed"] is False and result["installed"] is True
    assert result["version"] == "4.5.0.525"
    assert [service["name"] for service in result["services"]] == ["msesrv"]
    assert result["services"][0]["username"] == "NT AUTHORITY\\NetworkService"
    assert result["folders"] == [DATA, INSTALL]
    assert result["settings_file_candidates"] == [INSTALL + "\\mse.exe.config", DATA + "\\State\\site.config"]
    assert result["registry_keys"] == [{"path": "HKLM:\\SOFTWARE\\Mimecast", "sub_keys": ["SyncEngine"],
                                        "value_names": ["AccountPassword"]}]
    assert "do-not-leak" not in json.dumps(result)
    assert host.writes() == []


def test_nothing_installed_says_so_without_failing(run_action):
    host = FakeWindowsHost()
    result = run_action(mse_site_info, host, {}, check_mode=True)
    assert result["installed"] is False and result["services"] == [] and not result.get("failed")


def test_a_failing_read_names_the_step(run_action):
    host = installed_host()
    host.fail["ansible.windows.win_find"] = "Access is denied"
    result = run_action(mse_site_info, host, {})
    assert result["failed"] and result["step"] == "list candidate settings files"
