# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MSE Windows host as the action plugins see it: ansible.windows modules run over WinRM.

Everything the action plugins learn or change on a host goes through ``HostModules.run``,
which runs one module with ``_execute_module`` and turns a failure into StepFailed naming
the step. Discovery of the MSE installation lives here too, as it serves both
mse_site_info and mse_site_account.
"""

from __future__ import annotations

import fnmatch

# Where MSE is known or reported to live (research: mimecast-sync-engine.md).
UNINSTALL_KEYS = (
    r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\mimecast-sync-engine",  # 4.5.x NSIS product code [seen]
    r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\mimecast-sync-engine",
)
MIMECAST_KEYS = (r"HKLM:\SOFTWARE\Mimecast", r"HKLM:\SOFTWARE\WOW6432Node\Mimecast")
DATA_FOLDERS = (
    r"C:\ProgramData\Mimecast Synchronisation Engine",  # 3.x and later [doc]
    r"C:\Program Files\Mimecast\SynchronizationEngine",  # 2.x layout [seen, one log sample]
    r"C:\Program Files (x86)\Mimecast\SynchronizationEngine",  # 32-bit twin of the above [guess]
)
SETTINGS_PATTERNS = ["*.config", "*.xml", "*.json", "*.ini", "*.dat", "*.db"]
# Service names and what their name, display name or binary path must contain to count as MSE.
KNOWN_SERVICE_NAMES = ("msesrv",)  # 4.5.0.525 [seen, one source]
SERVICE_MARKERS = ("mimecast", "msesrv", "synchronisation engine", "synchronization engine")
SERVICE_FIELDS = ("name", "display_name", "path", "start_mode", "state", "username")


class StepFailed(Exception):
    """A module run on the host failed; ``step`` says what we were doing."""

    def __init__(self, step, module, message):
        super().__init__("%s failed (%s): %s" % (step, module, message))
        self.step = step
        self.module = module


class HostModules:
    """Runs ansible.windows / microsoft.ad modules on the task's host."""

    def __init__(self, action, task_vars):
        self._action = action
        self._task_vars = task_vars

    def run(self, step, module, args):
        """Run ``module`` with ``args``; return its result or raise StepFailed."""
        result = self._action._execute_module(module_name=module, module_args=args, task_vars=self._task_vars)
        if result.get("failed") or result.get("unreachable"):
            raise StepFailed(step, module, result.get("msg") or "no message from the module")
        return result


def is_mse_service(service):
    """True when a service's name, display name or binary path says it is the MSE."""
    if str(service.get("name", "")).lower() in KNOWN_SERVICE_NAMES:
        return True
    text = " ".join(str(service.get(field) or "") for field in ("name", "display_name", "path")).lower()
    return any(marker in text for marker in SERVICE_MARKERS)


def service_summary(service):
    """The facts about a service an admin needs (no secrets: win_service_info has none)."""
    return {field: service.get(field) for field in SERVICE_FIELDS}


def find_services(host, service_name=None):
    """MSE services on the host: the named one, or every service that looks like MSE."""
    args = {"name": service_name} if service_name else {}
    services = host.run("read the Windows services", "ansible.windows.win_service_info", args).get("services") or []
    if service_name:
        return [service for service in services if fnmatch.fnmatch(service["name"].lower(), service_name.lower())
                or service["name"].lower() == service_name.lower()]
    return [service for service in services if is_mse_service(service)]


def registry_key(host, path):
    """A registry key's existence, sub-key names and value names (values are not returned: they may be secrets)."""
    result = host.run("read registry key %s" % path, "ansible.windows.win_reg_stat", {"path": path})
    if not result.get("exists"):
        return None
    return {"path": path, "sub_keys": sorted(result.get("sub_keys") or []), "value_names": sorted(result.get("properties") or {})}


def uninstall_entry(host):
    """The MSE uninstall entry (display name, version, install location), if a known key exists."""
    for path in UNINSTALL_KEYS:
        result = host.run("read uninstall entry %s" % path, "ansible.windows.win_reg_stat", {"path": path})
        if result.get("exists"):
            properties = result.get("properties") or {}

            def value(name, props=properties):
                return (props.get(name) or {}).get("value")
            return {"key": path, "display_name": value("DisplayName"), "version": value("DisplayVersion"),
                    "publisher": value("Publisher"), "install_location": value("InstallLocation"),
                    "uninstall_string": value("UninstallString")}
    return None


def existing_folders(host, paths):
    """The paths that exist as directories."""
    found = []
    for path in paths:
        stat = host.run("look for folder %s" % path, "ansible.windows.win_stat",
                        {"path": path, "get_checksum": False, "get_size": False}).get("stat") or {}
        if stat.get("exists") and stat.get("isdir"):
            found.append(path)
    return found


def settings_candidates(host, folders):
    """Files in the MSE folders that may hold settings: paths only, never contents."""
    if not folders:
        return []
    result = host.run("list candidate settings files", "ansible.windows.win_find",
                      {"paths": folders, "patterns": SETTINGS_PATTERNS, "recurse": True, "depth": 3,
                       "get_checksum": False})
    return sorted(item["path"] for item in result.get("files") or [])


def binary_folder(path):
    """The folder of a service binary path such as '"C:\\Program Files\\X\\mse.exe" -service'."""
    path = (path or "").strip()
    if path.startswith('"'):
        path = path[1:].split('"', 1)[0]
    else:
        path = path.split(" -", 1)[0].split(" /", 1)[0]
    return path.rsplit("\\", 1)[0] if "\\" in path else None


def discover(host, service_name=None, extra_paths=()):
    """Everything mse_site_info reports about the MSE installation on a host."""
    services = find_services(host, service_name)
    entry = uninstall_entry(host)
    candidates = list(DATA_FOLDERS) + list(extra_paths)
    if entry and entry.get("install_location"):
        candidates.append(entry["install_location"].strip('"'))
    candidates.extend(folder for folder in (binary_folder(service.get("path")) for service in services) if folder)
    folders = existing_folders(host, list(dict.fromkeys(candidates)))
    keys = [key for key in (registry_key(host, path) for path in MIMECAST_KEYS) if key]
    return {
        "installed": bool(services or entry),
        "version": entry.get("version") if entry else None,
        "uninstall_entry": entry,
        "services": [service_summary(service) for service in services],
        "folders": folders,
        "settings_file_candidates": settings_candidates(host, folders),
        "registry_keys": keys,
    }
