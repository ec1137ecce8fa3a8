# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mse_site_info: what of the Mimecast Synchronization Engine is on a host (read-only).

Registry values of the uninstall entry are reported (they describe the product);
Mimecast's own registry keys and the settings files are listed by name only, never
with their data, since they may hold secrets.
"""

from __future__ import annotations

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.discovery import (
    find_services,
    folder_of,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.install import (
    FIRST_VERSION_WITHOUT_LOGON_ACCOUNT,
    REG_STAT,
    UNKNOWN,
    installed_version,
    major_version,
    uninstall_entries,
)
from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import (
    KNOWN_FOLDERS,
    MIMECAST_REGISTRY_KEYS,
)

STAT = "ansible.windows.win_stat"
FIND = "ansible.windows.win_find"
MAX_REGISTRY_KEYS = 50


def registry_keys(runner, depth):
    """List Mimecast's registry keys: sub-keys and value names and types, never data."""
    keys = []
    queue = [(key, 0) for key in MIMECAST_REGISTRY_KEYS]
    while queue and len(keys) < MAX_REGISTRY_KEYS:
        key, level = queue.pop(0)
        result = runner.run("Read registry key %s" % key, REG_STAT, {"path": key})
        if not result.want("exists", bool):
            if level == 0:
                keys.append({"path": key, "exists": False, "values": [], "sub_keys": []})
            continue
        properties = result.want("properties", dict, elements=dict)
        sub_keys = list(result.want("sub_keys", list, elements=str))
        keys.append({
            "path": key,
            "exists": True,
            "values": [{"name": name, "type": entry.get("type")} for name, entry in sorted(properties.items())],
            "sub_keys": sub_keys,
        })
        if level + 1 < depth:
            queue.extend(("%s\\%s" % (key, sub), level + 1) for sub in sub_keys)
    return keys


def candidate_folders(entries, services, extra_paths):
    """Folders to look at, each with where the idea came from."""
    folders = []
    seen = set()

    def add(path, source, note):
        if path and path.lower().rstrip("\\") not in seen:
            seen.add(path.lower().rstrip("\\"))
            folders.append({"path": path.rstrip("\\"), "source": source, "note": note})

    for entry in entries:
        add(entry.get("install_location"), "uninstall_entry", "InstallLocation of %s" % entry["key"])
    for service in services:
        add(folder_of(service.get("path")), "service", "folder of service %s" % service["name"])
    for path, label, note in KNOWN_FOLDERS:
        add(path, label, note)
    for path in extra_paths:
        add(path, "extra_paths", "given in extra_paths")
    return folders


def settings_files(runner, folders, patterns, depth):
    """Stat each folder; list files matching PATTERNS (paths only) in the ones that exist."""
    files = []
    for folder in folders:
        stat = runner.run("Check folder %s" % folder["path"], STAT,
                          {"path": folder["path"], "get_checksum": False, "get_size": False})
        info = stat.want("stat", dict)
        folder["exists"] = stat.want_from(info, "exists", bool, where="stat.") and bool(
            stat.want_from(info, "isdir", bool, required=False, where="stat."))
        if not folder["exists"] or not patterns:
            continue
        args = {"paths": [folder["path"]], "patterns": list(patterns), "file_type": "file",
                "get_checksum": False, "recurse": depth > 0}
        if depth > 0:
            args["depth"] = depth
        found = runner.run("Find settings files in %s" % folder["path"], FIND, args)
        for index, item in enumerate(found.want("files", list, elements=dict)):
            path = found.want_from(item, "path", str, where="files[%d]." % index)
            if path not in files:
                files.append(path)
    return sorted(files, key=str.lower)


def run_site_info(runner, params):
    """Collect everything mse_site_info reports; returns the result dict."""
    services, how = find_services(runner, params["service_name"])
    entries = uninstall_entries(runner, params["product_codes"])
    folders = candidate_folders(entries, services, params["extra_paths"])
    files = settings_files(runner, folders, params["settings_patterns"], params["search_depth"])
    keys = registry_keys(runner, params["registry_depth"])
    installed = bool(entries or services)
    version, version_source = installed_version(entries)
    notes = [
        "Older MSI-based versions register under a product GUID, which is not searched; "
        "add it to product_codes if you know it.",
        "Where Site Configure stores the Microsoft Mailbox address, its password and the Directory Type "
        "is not published by Mimecast; settings_files and registry_keys list candidates only.",
    ]
    major = major_version(version)
    if major is not None and major >= FIRST_VERSION_WITHOUT_LOGON_ACCOUNT:
        notes.append("From 3.x, Site Configure does not set the Windows logon account of the MSE service (a 4.5 "
                     "install runs it as NetworkService); an account other than a built-in one is the operator's "
                     "choice.")
    if version == UNKNOWN:
        notes.append("The installed version is unknown: no uninstall entry with a DisplayVersion was found for %s."
                     % ", ".join(params["product_codes"]))
    if not services:
        notes.append("No MSE service found (looked %s)." % (
            "for service_name" if how == "service_name" else "for msesrv and for services mentioning Mimecast"))
    return {
        "changed": False,
        "installed": installed,
        "version": version,
        "version_source": version_source,
        "uninstall_entries": entries,
        "services": services,
        "service": services[0] if len(services) == 1 else None,
        "service_found_by": how if services else None,
        "folders": folders,
        "settings_files": files,
        "registry_keys": keys,
        "notes": notes,
    }
