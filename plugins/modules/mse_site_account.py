#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/mse_site_account.py):
# Python cannot run on a Windows target, so the controller drives ansible.windows modules.

from __future__ import annotations

DOCUMENTATION = r'''
module: mse_site_account
short_description: Set the account the Mimecast Synchronization Engine service runs as
version_added: 1.0.0
description:
  - Does over WinRM what the Accounts tab of MSE's Site Configure does for the Windows side, through
    C(ansible.windows) modules run from the controller (an action plugin; no custom PowerShell).
  - The MSE service runs as O(account), which gets the C(SeServiceLogonRight) (Log on as a service) user right.
  - The service is restarted only when something changed and left in O(state).
  - The service is found by discovery (a service whose name, display name or binary path mentions Mimecast or C(msesrv)),
    or named with O(service_name). The module fails clearly when MSE is not installed.
  - The Microsoft Mailbox address, its password and the Directory Type are managed only through a O(settings_store) you
    have verified on your install with M(mimecast_mse.sync_engine.mse_site_info). Mimecast does not publish where Site
    Configure keeps them, so no location is ever guessed; without O(settings_store) they are reported as not managed.
  - Binding the site to Mimecast is not automated.
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
attributes:
  check_mode:
    support: full
    description: The called modules run in check mode and report what would change.
  diff_mode:
    support: full
    description: Shows account, logon right, state and mailbox settings before and after; passwords as placeholders.
  platform:
    support: full
    platforms: windows
options:
  account:
    description:
      - The Windows account the MSE service runs as, as C(DOMAIN\\user), C(.\\user), C(user@domain), a gMSA C(DOMAIN\\name$),
        V(LocalSystem) or V(NetworkService).
    type: str
    required: true
  password:
    description:
      - Password of O(account). Required when the service moves to a user account; not allowed for built-in accounts and gMSAs.
    type: str
  update_password:
    description:
      - V(on_change) sets O(password) (and O(mailbox_password)) only together with a new account (or mailbox address), so
        re-runs report no change they cannot verify.
      - V(always) sets them on every run, for password rotation; the run then always reports a change and restarts the service.
    type: str
    default: on_change
    choices: [always, on_change]
  service_name:
    description:
      - Name of the MSE Windows service, when discovery does not find it or finds several.
    type: str
  state:
    description:
      - State of the service after the run. V(unchanged) neither starts nor stops it.
    type: str
    default: started
    choices: [started, stopped, unchanged]
  restart:
    description:
      - Restart the service when anything changed and O(state=started).
    type: bool
    default: true
  mailbox_address:
    description:
      - Primary SMTP address of the service account's Microsoft 365 mailbox (Site Configure's "Microsoft Mailbox").
      - Applied only with O(settings_store).
    type: str
  mailbox_password:
    description:
      - Password of the Microsoft Mailbox. Applied only with O(settings_store) and its
        O(settings_store.mailbox_password_value).
    type: str
  directory_type:
    description:
      - Directory Type value to store. Applied only with O(settings_store.directory_type_value).
    type: str
    default: Microsoft Office 365 Directory
  settings_store:
    description:
      - Where your MSE install keeps the Accounts tab's mailbox settings, as you verified it (for example by comparing
        registry exports before and after a change in Site Configure). Only registry values can be managed.
    type: dict
    suboptions:
      type:
        description: Kind of store.
        type: str
        required: true
        choices: [registry]
      path:
        description: Registry key, for example C(HKLM:\\SOFTWARE\\...).
        type: str
        required: true
      mailbox_address_value:
        description: Name of the string value holding the mailbox address.
        type: str
        required: true
      directory_type_value:
        description: Name of the string value holding the Directory Type.
        type: str
      mailbox_password_value:
        description:
          - Name of the value holding the mailbox password. Requires O(settings_store.mailbox_password_format).
        type: str
      mailbox_password_format:
        description:
          - How the password is stored. Only V(plaintext) can be written; if MSE protects it in any other way, leave
            O(settings_store.mailbox_password_value) out and set the password in Site Configure.
        type: str
        choices: [plaintext]
notes:
  - Passwords are never returned; diffs show C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) instead. Mark the task C(no_log)
    if you also want its arguments hidden from callbacks.
seealso:
  - module: mimecast_mse.sync_engine.mse_site_info
  - module: ansible.windows.win_service
  - module: ansible.windows.win_user_right
'''

EXAMPLES = r'''
- name: Run MSE as the domain service account
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_svc_mse_password }}"

- name: Rotate the service account's password (reports a change and restarts)
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_svc_mse_new_password }}"
    update_password: always

- name: Also manage the Microsoft Mailbox, in a store verified on this install
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_svc_mse_password }}"
    mailbox_address: svc-mse@contoso.com
    settings_store:
      type: registry
      path: HKLM:\SOFTWARE\Mimecast\VerifiedByUs
      mailbox_address_value: MailboxAddress
      directory_type_value: DirectoryType
'''

RETURN = r'''
service:
  description: The MSE service and its account and state after the run (or as it would be, in check mode).
  returned: success
  type: dict
  sample: {"name": "msesrv", "account": "CONTOSO\\svc-mse", "state": "started"}
microsoft_mailbox:
  description: Whether the Microsoft Mailbox settings were managed, and if not, why.
  returned: success
  type: dict
  sample: {"managed": false, "reason": "Mimecast does not publish where Site Configure stores ..."}
step:
  description: The step that failed, when a called module failed.
  returned: failure
  type: str
  sample: set the logon account of service msesrv
'''
