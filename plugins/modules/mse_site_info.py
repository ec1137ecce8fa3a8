#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: mse_site_info
short_description: Find the Mimecast Synchronization Engine installation on a Windows host
version_added: 1.0.0
description:
  - Reports what of the Mimecast Synchronization Engine (MSE) is installed on a Windows host, so an administrator can
    see what is there before configuring it, and can verify a settings store for
    M(mimecast_mse.sync_engine.mse_site_account).
  - Runs as an action plugin on the controller and reads the host with M(ansible.windows.win_service_info),
    M(ansible.windows.win_reg_stat), M(ansible.windows.win_stat) and M(ansible.windows.win_find) over the usual
    Windows connection (WinRM or PSRP). It runs no PowerShell of its own and changes nothing.
  - 'Uninstall entry: C(HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\<code>) and its
    C(WOW6432Node) twin for each of O(product_codes). 4.5.x uses the NSIS product code C(mimecast-sync-engine).
    Older MSI-based versions register under a product GUID, which this module does not search for.'
  - 'Version: the C(DisplayVersion) of the first uninstall entry that has one, the 64-bit view first. RV(version) is
    V(unknown) when there is none, and RV(version_source) says where it was read.'
  - 'Services: the service named O(service_name) if given, otherwise C(msesrv) (the name a public note reports for
    4.5.0.525; a single source), otherwise every service whose name, display name or binary path contains
    C(mimecast).'
  - 'Folders: the install location from the uninstall entry, the folder of the service binary,
    C(C:\ProgramData\Mimecast Synchronisation Engine) (data folder of 3.x and later, documented),
    C(C:\Program Files\Mimecast\SynchronizationEngine) (2.x layout seen in a log sample), two guessed
    C(Program Files) folders and O(extra_paths). Each folder is labelled with where the idea came from.'
  - Settings files are listed by path only; their contents are never read. Mimecast registry keys
    (C(HKLM:\SOFTWARE\Mimecast) and its C(WOW6432Node) twin) are listed with sub-keys and value names and types,
    never value data, since they may hold secrets.
  - A module result of unexpected shape (for example from an incompatible M(ansible.windows.win_reg_stat)) fails the
    task with a message naming the step and the field, never with a traceback.
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: windows
    description: Targets Windows hosts; the plugin itself runs on the controller.
options:
  service_name:
    description:
      - Name of the MSE service, when it is not C(msesrv) or several services mention Mimecast.
    type: str
  product_codes:
    description:
      - Uninstall-entry key names to read under both uninstall roots. Add an MSI product GUID (with braces) if you
        know the one of your version.
    type: list
    elements: str
    default: [mimecast-sync-engine]
  extra_paths:
    description:
      - More folders to check and search for settings files.
    type: list
    elements: str
    default: []
  settings_patterns:
    description:
      - File name patterns of candidate settings files, as for M(ansible.windows.win_find). V([]) skips the search.
    type: list
    elements: str
    default: ['*.config', '*.xml', '*.json', '*.ini']
  search_depth:
    description:
      - How many folder levels below each existing folder are searched for settings files. V(0) searches only the
        folder itself.
    type: int
    default: 2
  registry_depth:
    description:
      - How many levels of Mimecast registry keys are listed (at most 50 keys in all).
    type: int
    default: 2
notes:
  - Where Site Configure stores the Microsoft Mailbox address, its password and the Directory Type is not published by
    Mimecast. RV(settings_files) and RV(registry_keys) are candidates for you to inspect, not an answer.
  - From 3.x, Site Configure's Accounts tab has no Windows logon account fields, and a 4.5 install runs its service as
    C(NetworkService); RV(notes) says so when the installed version is 3 or later.
seealso:
  - module: mimecast_mse.sync_engine.mse_site_account
  - module: ansible.windows.win_service_info
  - ref: ansible_collections.mimecast_mse.sync_engine.docsite.guide_windows_host
    description: The MSE Windows host, what is managed and what is not.
'''

EXAMPLES = r'''
- name: See what of MSE is installed
  mimecast_mse.sync_engine.mse_site_info:
  register: mse

- name: Fail early when MSE is missing
  ansible.builtin.assert:
    that: mse.installed
    fail_msg: Install the Mimecast Synchronization Engine first

- name: Also look at a non-default install folder and an MSI product code
  mimecast_mse.sync_engine.mse_site_info:
    product_codes:
      - mimecast-sync-engine
      - '{00000000-0000-0000-0000-000000000000}'
    extra_paths:
      - D:\Mimecast
'''

RETURN = r'''
installed:
  description: Whether an uninstall entry or an MSE service was found.
  returned: success
  type: bool
  sample: true
version:
  description:
    - The installed version, from C(DisplayVersion) of the first uninstall entry that has one (64-bit view first).
    - V(unknown) when no uninstall entry with a C(DisplayVersion) was found.
  returned: success
  type: str
  sample: 4.5.0.525
version_source:
  description: Where RV(version) was read, or V(null) when it is V(unknown).
  returned: success
  type: str
  sample: registry HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\mimecast-sync-engine, value DisplayVersion
uninstall_entries:
  description: The uninstall entries found.
  returned: success
  type: list
  elements: dict
  contains:
    key:
      description: Registry key of the entry.
      type: str
      sample: HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\mimecast-sync-engine
    product_code:
      description: The key name it was found under.
      type: str
    display_name:
      description: DisplayName.
      type: str
    display_version:
      description: DisplayVersion.
      type: str
    publisher:
      description: Publisher.
      type: str
    install_location:
      description: InstallLocation.
      type: str
    uninstall_string:
      description: UninstallString.
      type: str
    install_date:
      description: InstallDate.
      type: str
services:
  description: Services that look like MSE (see the description for how they are found).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Service name.
      type: str
      sample: msesrv
    display_name:
      description: Display name.
      type: str
    path:
      description: Binary path with arguments.
      type: str
    start_mode:
      description: Start mode (auto, delayed, manual, disabled).
      type: str
    state:
      description: Current state, for example V(running) or V(stopped).
      type: str
    username:
      description: The account the service runs as.
      type: str
      sample: NT AUTHORITY\NetworkService
service:
  description: The MSE service when exactly one was found, else V(null).
  returned: success
  type: dict
service_found_by:
  description: How the services were found, V(service_name), V(known_name) or V(search); V(null) if none.
  returned: success
  type: str
folders:
  description: The folders checked.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Folder path.
      type: str
    source:
      description:
        - Where the idea came from, V(uninstall_entry), V(service), V(doc) (vendor documentation), V(seen) (public
          reports), V(guess) or V(extra_paths).
      type: str
    note:
      description: Why the folder is checked.
      type: str
    exists:
      description: Whether it exists as a folder.
      type: bool
settings_files:
  description: Paths of files matching O(settings_patterns) in the existing folders. Contents are never read.
  returned: success
  type: list
  elements: str
registry_keys:
  description: Mimecast registry keys, with sub-key names and value names and types, never data.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Key path.
      type: str
    exists:
      description: Whether the key exists.
      type: bool
    sub_keys:
      description: Names of its sub-keys.
      type: list
      elements: str
    values:
      description: Its values, each with C(name) and C(type).
      type: list
      elements: dict
notes:
  description: What this module cannot find, in words.
  returned: success
  type: list
  elements: str
steps:
  description: The module calls made, when the module failed.
  returned: failure
  type: list
  elements: dict
'''
