#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/mse_site_info.py).

from __future__ import annotations

DOCUMENTATION = r'''
module: mse_site_info
short_description: Find the Mimecast Synchronization Engine installation on a Windows host
version_added: 1.0.0
description:
  - Read-only. Looks for the MSE uninstall entry and version (the C(mimecast-sync-engine) product key of 4.5.x installers),
    its data and install folders (C(C:\\ProgramData\\Mimecast Synchronisation Engine) for 3.x and later, the 2.x layout under
    C(C:\\Program Files\\Mimecast)), its Windows service(s) with name, display name, binary path, start mode, state and logon
    account, files in those folders that may hold settings (paths only, never contents) and C(HKLM:\\SOFTWARE\\Mimecast) keys
    (sub-key and value names only, never values).
  - Use it to verify where your MSE version keeps its settings before giving M(mimecast_mse.sync_engine.mse_site_account) a
    settings store.
  - MSI-based installs registered under a product GUID are not found by their uninstall entry; their service still is.
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: windows
options:
  service_name:
    description:
      - Name of the MSE service (wildcards allowed) instead of discovery by name, display name and path.
    type: str
  extra_paths:
    description:
      - More folders to look in for settings files.
    type: list
    elements: str
    default: []
seealso:
  - module: mimecast_mse.sync_engine.mse_site_account
'''

EXAMPLES = r'''
- name: What MSE is installed here?
  mimecast_mse.sync_engine.mse_site_info:
  register: mse

- name: Show it
  ansible.builtin.debug:
    var: mse
'''

RETURN = r'''
installed:
  description: Whether an MSE service or uninstall entry was found.
  returned: always
  type: bool
version:
  description: DisplayVersion of the uninstall entry.
  returned: always
  type: str
  sample: 4.5.0.525
uninstall_entry:
  description: The uninstall entry found, or null.
  returned: always
  type: dict
services:
  description: MSE services with name, display_name, path, start_mode, state and username.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "msesrv", "display_name": "Mimecast Synchronization Engine", "state": "started",
            "start_mode": "auto", "username": "NT AUTHORITY\\NetworkService", "path": "C:\\Program Files\\Mimecast\\mse.exe"}]
folders:
  description: MSE folders that exist.
  returned: always
  type: list
  elements: str
settings_file_candidates:
  description: Files in those folders that may hold settings (paths only).
  returned: always
  type: list
  elements: str
registry_keys:
  description: Mimecast registry keys with their sub-key and value names (no values).
  returned: always
  type: list
  elements: dict
'''
