# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The installed MSE version, from the uninstall entry the installer writes.

4.5.x installs with an NSIS installer whose uninstall key is ``mimecast-sync-engine``
[seen: winget manifest]; ``DisplayVersion`` in that key is the version Windows shows
under Programs and Features. A 32-bit installer on 64-bit Windows writes the key under
WOW6432Node instead, so both views are read, the 64-bit one first.
"""

from __future__ import annotations

import re

from ansible_collections.mimecast_mse.sync_engine.plugins.plugin_utils._mse.specs import UNINSTALL_ROOTS

REG_STAT = "ansible.windows.win_reg_stat"
UNKNOWN = "unknown"
UNINSTALL_FIELDS = {
    "DisplayName": "display_name",
    "DisplayVersion": "display_version",
    "Publisher": "publisher",
    "InstallLocation": "install_location",
    "UninstallString": "uninstall_string",
    "InstallDate": "install_date",
}
# From 3.x, Site Configure's Accounts tab has no Windows logon account fields [doc: DOC-1789],
# and a 4.5 install runs its service as NetworkService [seen, single source].
FIRST_VERSION_WITHOUT_LOGON_ACCOUNT = 3


def _text(value):
    """Registry data as text (REG_DWORD data arrives as an integer)."""
    return None if value is None else str(value)


def uninstall_entries(runner, product_codes):
    """Read the uninstall entry of each product code in the 64- and 32-bit registry views."""
    entries = []
    for code in product_codes:
        for root in UNINSTALL_ROOTS:
            key = "%s\\%s" % (root, code)
            result = runner.run("Read uninstall entry %s" % key, REG_STAT, {"path": key})
            if not result.want("exists", bool):
                continue
            properties = result.want("properties", dict, elements=dict)
            entry = {"key": key, "product_code": code}
            for reg_name, field in UNINSTALL_FIELDS.items():
                entry[field] = _text(properties.get(reg_name, {}).get("value"))
            entries.append(entry)
    return entries


def installed_version(entries):
    """Return (version, source): DisplayVersion of the first entry that has one and where it was read, or UNKNOWN."""
    for entry in entries:
        if entry.get("display_version"):
            return entry["display_version"], "registry %s, value DisplayVersion" % entry["key"]
    return UNKNOWN, None


def major_version(version):
    """The major version number of VERSION, or None when it does not start with one."""
    match = re.match(r"\s*v?(\d+)\b", version or "")
    return int(match.group(1)) if match else None
