# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mse_site_info against the fake Windows host; every call is contract-checked."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mimecast_mse.sync_engine.plugins.action import mse_site_info

UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\mimecast-sync-engine"
UNINSTALL32 = "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\mimecast-sync-engine"
INSTALL = "C:\\Program Files\\Mimecast\\MSE"
DATA = "C:\\ProgramData\\Mimecast Synchronisation Engine"
SECRET = "do-not-leak-this"


@pytest.fixture
def installed(host):
    """MSE 4.5 as a public note describes it, plus a registry key holding a secret."""
    host.add_service("msesrv", display_name="Mimecast Synchronization Engine",
                     path='"%s\\msesrv.exe" -service' % INSTALL)
    host.add_service("Spooler", username="LocalSystem", path="C:\\Windows\\System32\\spoolsv.exe")
    host.add_key(UNINSTALL, DisplayName="Mimecast Synchronization Engine", DisplayVersion="4.5.0.525",
                 InstallLocation=INSTALL, Publisher="Mimecast", UninstallString='"%s\\uninstall.exe"' % INSTALL)
    host.add_key("HKLM:\\SOFTWARE\\Mimecast", AccountPassword=SECRET)
    host.add_key("HKLM:\\SOFTWARE\\Mimecast\\SyncEngine", SiteCode="ABC", Token=SECRET)
    for path in (DATA + "\\State\\site.config", DATA + "\\Logs\\ACC1\\mse.log", DATA + "\\State\\deep\\er\\x.json",
                 INSTALL + "\\msesrv.exe.config", INSTALL + "\\msesrv.exe", "D:\\Extra\\settings.ini"):
        host.add_path(path)
    return host


def info(run_action, host, check_mode=False, **args):
    return run_action(mse_site_info, host, args, check_mode=check_mode)


def test_reports_service_version_folders_files_and_keys(run_action, installed):
    result = info(run_action, installed)
    assert not result.get("failed") and result["changed"] is False, result
    assert result["installed"] is True and result["version"] == "4.5.0.525"
    assert result["version_source"] == "registry %s, value DisplayVersion" % UNINSTALL
    assert any("does not set the Windows logon account" in note for note in result["notes"])
    assert result["service"]["name"] == "msesrv" and result["service_found_by"] == "known_name"
    assert result["service"]["username"] == "NT AUTHORITY\\NetworkService"
    assert result["uninstall_entries"][0]["key"] == UNINSTALL
    assert result["uninstall_entries"][0]["install_location"] == INSTALL
    folders = {folder["path"]: folder for folder in result["folders"]}
    assert folders[INSTALL]["exists"] is True and folders[INSTALL]["source"] == "uninstall_entry"
    assert folders[DATA]["exists"] is True and folders[DATA]["source"] == "doc"
    assert folders["C:\\Program Files\\Mimecast\\SynchronizationEngine"]["exists"] is False
    assert result["settings_files"] == [INSTALL + "\\msesrv.exe.config", DATA + "\\State\\site.config"]
    keys = {key["path"]: key for key in result["registry_keys"]}
    assert keys["HKLM:\\SOFTWARE\\Mimecast"]["sub_keys"] == ["SyncEngine"]
    assert {v["name"] for v in keys["HKLM:\\SOFTWARE\\Mimecast\\SyncEngine"]["values"]} == {"SiteCode", "Token"}
    assert keys["HKLM:\\SOFTWARE\\WOW6432Node\\Mimecast"]["exists"] is False
    assert SECRET not in json.dumps(result)
    assert not installed.writes()


def test_check_mode_gives_the_same_answer(run_action, installed):
    normal = info(run_action, installed)
    checked = info(run_action, installed, check_mode=True)
    assert normal == checked and not installed.writes()


def test_nothing_installed(run_action, host):
    host.add_service("Spooler", username="LocalSystem")
    result = info(run_action, host)
    assert not result.get("failed"), result
    assert result["installed"] is False and result["services"] == []
    assert result["version"] == "unknown" and result["version_source"] is None
    assert result["service"] is None and result["settings_files"] == []
    assert any("No MSE service found" in note for note in result["notes"])
    assert not any("logon account" in note for note in result["notes"])


def test_32_bit_uninstall_entry_and_search_by_display_name(run_action, host):
    host.add_key(UNINSTALL32, DisplayName="Mimecast Synchronization Engine", DisplayVersion="3.2.1")
    host.add_service("MSESync", display_name="Mimecast Synchronization Engine")
    result = info(run_action, host)
    assert result["version"] == "3.2.1" and result["uninstall_entries"][0]["key"] == UNINSTALL32
    assert result["version_source"] == "registry %s, value DisplayVersion" % UNINSTALL32
    assert result["service"]["name"] == "MSESync" and result["service_found_by"] == "search"


def test_service_name_and_extra_paths(run_action, installed):
    installed.add_service("OtherName", display_name="Something")
    result = info(run_action, installed, service_name="OtherName", extra_paths=["D:\\Extra"], search_depth=0,
                  settings_patterns=["*.ini"])
    assert result["service"]["name"] == "OtherName" and result["service_found_by"] == "service_name"
    assert result["settings_files"] == ["D:\\Extra\\settings.ini"]


def test_search_depth_limits_the_file_search(run_action, installed):
    deep = info(run_action, installed, search_depth=5)
    assert DATA + "\\State\\deep\\er\\x.json" in deep["settings_files"]
    shallow = info(run_action, installed, search_depth=2)
    assert DATA + "\\State\\deep\\er\\x.json" not in shallow["settings_files"]


def test_a_failing_read_names_the_step(run_action, installed):
    installed.fail["ansible.windows.win_reg_stat"] = "Access is denied"
    result = info(run_action, installed)
    assert result["failed"] is True
    assert "Read uninstall entry" in result["msg"] and "ansible.windows.win_reg_stat" in result["msg"]
    assert "Access is denied" in result["msg"]


def test_bad_option_type_is_rejected(run_action, installed):
    result = info(run_action, installed, search_depth="deep")
    assert result["failed"] is True and "search_depth" in result["msg"]


def test_the_64_bit_entry_wins_over_its_wow6432node_twin(run_action, installed):
    installed.add_key(UNINSTALL32, DisplayVersion="4.4.0.1")
    result = info(run_action, installed)
    assert result["version"] == "4.5.0.525" and result["version_source"].startswith("registry " + UNINSTALL + ",")
    assert [entry["display_version"] for entry in result["uninstall_entries"]] == ["4.5.0.525", "4.4.0.1"]


def test_an_entry_without_display_version_gives_unknown(run_action, host):
    host.add_key(UNINSTALL, DisplayName="Mimecast Synchronization Engine")
    result = info(run_action, host)
    assert result["installed"] is True and result["version"] == "unknown" and result["version_source"] is None
    assert any("version is unknown" in note for note in result["notes"])


def _path_is(path):
    return lambda args: args.get("path") == path


@pytest.mark.parametrize("key, reshape, step, detail", [
    ("ansible.windows.win_service_info", lambda r: dict(r, services="msesrv"), "Read service msesrv",
     "'services' is a string, expected a list"),
    (("ansible.windows.win_reg_stat", _path_is(UNINSTALL)), lambda r: dict(r, properties=list(r["properties"])),
     "Read uninstall entry", "'properties' is a list, expected a dict"),
    (("ansible.windows.win_reg_stat", _path_is("HKLM:\\SOFTWARE\\Mimecast")), lambda r: dict(r, sub_keys="SyncEngine"),
     "Read registry key HKLM:\\SOFTWARE\\Mimecast", "'sub_keys' is a string, expected a list"),
    ("ansible.windows.win_stat", lambda r: dict(r, stat="exists"), "Check folder", "'stat' is a string"),
    ("ansible.windows.win_stat", lambda r: dict(r, stat={}), "Check folder", "'stat.exists' is missing"),
    ("ansible.windows.win_find", lambda r: dict(r, files={"path": "C:\\x"}), "Find settings files",
     "'files' is a dict, expected a list"),
    ("ansible.windows.win_find", lambda r: dict(r, files=[{"filename": "x"}]), "Find settings files",
     "'files[0].path' is missing"),
], ids=["services-string", "properties-list", "sub-keys-string", "stat-string", "stat-without-exists",
        "files-dict", "file-without-path"])
def test_unreadable_results_are_a_clear_failure(run_action, installed, key, reshape, step, detail):
    installed.reshape[key] = reshape
    result = info(run_action, installed)
    assert result["failed"] is True and result["changed"] is False, result
    assert step in result["msg"] and "unexpected result from the module" in result["msg"] and detail in result["msg"]
    assert result["steps"][-1]["failed"] is True and not installed.writes()
