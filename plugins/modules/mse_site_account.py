#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: mse_site_account
short_description: Set the account the Mimecast Synchronization Engine service runs as
version_added: 1.0.0
description:
  - Does what the Accounts tab of the Mimecast Synchronization Engine (MSE) Site Configure utility does for the
    service account, on a Windows host, repeatably.
  - Runs as an action plugin on the controller and drives the host with M(ansible.windows.win_service_info),
    M(ansible.windows.win_user_right), M(ansible.windows.win_service) and, only with O(settings_store),
    M(ansible.windows.win_reg_stat) and M(ansible.windows.win_regedit). It runs no PowerShell of its own.
  - "Steps: find the MSE service (as M(mimecast_mse.sync_engine.mse_site_info) does, or O(service_name)); read the
    installed version; check the settings store key if O(settings_store) is given. Only then change anything: grant
    O(account) C(SeServiceLogonRight) (not for built-in accounts); set the service to run as O(account); write the
    mailbox settings if O(settings_store) describes where; restart the service if anything of the service account or
    the settings changed, then leave it as O(state) says."
  - The installed version is read from the C(DisplayVersion) of the C(mimecast-sync-engine) uninstall entry (and its
    C(WOW6432Node) twin) and returned in RV(version). From 3.x, Site Configure's Accounts tab has no Windows logon
    account fields, and a 4.5 install runs its service as C(NetworkService). Moving the service of a 3.x or later
    install to an account that is not built in is therefore the operator's choice, not Mimecast's procedure; the
    module makes the change and returns a warning that says so. Nothing is said when the version is V(unknown).
  - The Microsoft Mailbox address, its password and the Directory Type are B(not managed) unless you describe a
    settings store in O(settings_store). Mimecast does not publish where Site Configure keeps them, and this module
    never writes to a guessed location; without O(settings_store) the result reports them as V(not_managed).
  - Fails with a clear message, before any change, on bad options, when MSE is not installed, when its service cannot
    be told apart, or when the settings store key does not exist.
  - If a module on the host fails, or returns a result of a shape this module cannot read, the task fails naming the
    step, and still returns RV(steps) and C(changed) for what was already done.
  - Passwords never appear in the result, the diff, warnings or error messages; module calls that carry one run
    with C(no_log).
author:
  - mimecast_mse.sync_engine contributors (@mimecast-mse)
attributes:
  check_mode:
    support: full
    description: Every step runs its module in check mode, so the result says what would change; nothing is written.
  diff_mode:
    support: full
    description:
      - Shows the service account, logon right, state and settings before and after.
      - A password that is (or would be) written is shown as C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER).
  platform:
    support: full
    platforms: windows
    description: Targets Windows hosts; the plugin itself runs on the controller.
options:
  account:
    description:
      - The account the MSE service runs as. V(DOMAIN\\user), V(.\\user) (local), V(user@domain), a group managed
        service account V(DOMAIN\\name$), or a built-in account V(LocalSystem), V(NetworkService) or V(LocalService)
        (also as C(NT AUTHORITY\...)).
      - For Office 365 Mimecast's legacy guide uses a mailbox-enabled user whose mailbox holds FullAccess, see
        M(mimecast_mse.sync_engine.o365_mailbox_fullaccess).
    type: str
    required: true
  password:
    description:
      - Password of O(account). Required for user accounts; must not be set for built-in accounts and gMSAs.
    type: str
  update_password:
    description:
      - V(on_change) sets the password only when the service's account changes. Windows cannot tell whether a
        stored service password equals O(password), so this is the only choice with which a re-run reports no
        change; it is the default for that reason.
      - V(always) sets the password on every run and therefore always reports a change and restarts the service.
        Use it once after rotating the password, for example in a rotation job.
    type: str
    default: on_change
    choices: [on_change, always]
  service_name:
    description:
      - Name of the MSE service. If not set, the service is found as M(mimecast_mse.sync_engine.mse_site_info) finds
        it (C(msesrv), else the one service that mentions Mimecast).
    type: str
  grant_logon_right:
    description:
      - Grant O(account) the C(SeServiceLogonRight) user right ("Log on as a service") with
        M(ansible.windows.win_user_right). Skipped for built-in accounts, which hold it already.
      - Set to V(false) where a Group Policy manages this right; a local grant would be overwritten at the next
        policy refresh.
    type: bool
    default: true
  restart:
    description:
      - Restart the service when its account, password or settings changed, so it picks them up. Nothing is
        restarted when nothing changed.
      - With V(false), RV(restart_pending) tells when a restart is still owed.
    type: bool
    default: true
  state:
    description:
      - V(started) leaves the service running (it is started if stopped).
      - V(stopped) leaves it stopped (it is not restarted).
      - V(unchanged) does not start or stop it; a running service is still restarted when O(restart) applies.
    type: str
    default: started
    choices: [started, stopped, unchanged]
  mailbox_address:
    description:
      - The primary SMTP address of the service account's Microsoft 365 mailbox (Site Configure's Microsoft Mailbox).
      - Written only to the value O(settings_store.mailbox_address_value) names. Without O(settings_store) it is
        reported as not managed (RV(settings)) and nothing is written.
    type: str
  mailbox_password:
    description:
      - Password of O(mailbox_address). Written only to the value O(settings_store.mailbox_password_value) names, as
        plain text, and only with O(settings_store.password_storage=plaintext). Without O(settings_store) it is
        reported as not managed.
      - The registry module compares the stored data, so it is rewritten only when it differs.
    type: str
  directory_type:
    description:
      - The Directory Type exactly as your install stores it (Site Configure shows C(Microsoft Office 365 Directory)
        or, in newer versions, C(Microsoft 365 Directory); the stored form is not documented).
      - Written only to the value O(settings_store.directory_type_value) names. Without O(settings_store) it is
        reported as not managed.
    type: str
  settings_store:
    description:
      - Where your MSE install keeps the Accounts-tab mailbox settings, as you verified it on your own install (for
        example by comparing M(mimecast_mse.sync_engine.mse_site_info) output before and after saving in Site
        Configure). Without it these settings are reported as V(not_managed) and nothing is written.
      - Only registry stores are supported; values are written as C(REG_SZ) with M(ansible.windows.win_regedit) into a
        key that must already exist. XML, JSON or INI files and protected (for example DPAPI) passwords are not
        managed.
      - Each setting needs its own registry value; the value names must differ, ignoring case as Windows does.
      - Only the values named by O(settings_store.mailbox_address_value) and O(settings_store.directory_type_value)
        are read back, for the diff. Name the value that holds the password in
        O(settings_store.mailbox_password_value) even when you do not set it, so that no other setting can point at it.
    type: dict
    suboptions:
      type:
        description:
          - Kind of store. Only V(registry).
        type: str
        required: true
        choices: [registry]
      path:
        description:
          - The registry key, for example C(HKLM:\SOFTWARE\Mimecast\...). It must exist.
        type: str
        required: true
      mailbox_address_value:
        description:
          - Name of the registry value that holds the mailbox address.
        type: str
      mailbox_password_value:
        description:
          - Name of the registry value that holds the mailbox password. Its data is never returned or shown in a diff.
        type: str
      directory_type_value:
        description:
          - Name of the registry value that holds the Directory Type.
        type: str
      password_storage:
        description:
          - How the store keeps the mailbox password. Only V(plaintext) can be written; required with
            O(mailbox_password), as a statement that you verified your install stores it so.
        type: str
        choices: [plaintext]
      verified:
        description:
          - Must be V(true) - your statement that you verified this store on your install. Nothing is written
            otherwise.
        type: bool
        default: false
notes:
  - Binding the site to Mimecast is not done; re-binding can change the site code, so it is not a harmless repeat.
  - Exchange Online EWS, which legacy MSE versions use to read mailboxes, is being retired (phased disablement from
    1 October 2026, shutdown on 1 April 2027); see the collection's guide to the MSE Windows host.
seealso:
  - ref: ansible_collections.mimecast_mse.sync_engine.docsite.guide_windows_host
    description: The MSE Windows host, what is managed and what is not.
  - module: mimecast_mse.sync_engine.mse_site_info
  - module: mimecast_mse.sync_engine.o365_mailbox_fullaccess
  - module: ansible.windows.win_service
  - module: ansible.windows.win_user_right
'''

EXAMPLES = r'''
- name: Run MSE as a domain service account
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_mse_service_password }}"

- name: After rotating the password in AD, set it on the service once
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_mse_service_password }}"
    update_password: always

- name: Run MSE as a gMSA, without restarting it now
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\gmsa-mse$
    restart: false

- name: Back to the built-in NetworkService account, service left stopped
  mimecast_mse.sync_engine.mse_site_account:
    account: NetworkService
    service_name: msesrv
    state: stopped

- name: Also write the mailbox settings into a registry store verified on this install
  mimecast_mse.sync_engine.mse_site_account:
    account: CONTOSO\svc-mse
    password: "{{ vault_mse_service_password }}"
    mailbox_address: svc-mse@contoso.com
    mailbox_password: "{{ vault_mse_mailbox_password }}"
    directory_type: Microsoft Office 365 Directory
    settings_store:
      type: registry
      path: HKLM:\SOFTWARE\Mimecast\ExampleVerifiedKey
      mailbox_address_value: ExampleMailboxValue
      mailbox_password_value: ExamplePasswordValue
      directory_type_value: ExampleDirectoryTypeValue
      password_storage: plaintext
      verified: true
'''

RETURN = r'''
service:
  description: The MSE service after the run (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    name:
      description: Service name.
      type: str
      sample: msesrv
    display_name:
      description: Display name.
      type: str
    path:
      description: Binary path.
      type: str
    start_mode:
      description: Start mode.
      type: str
    state:
      description: State the service was left in.
      type: str
      sample: running
    username:
      description: The account it runs as.
      type: str
      sample: CONTOSO\svc-mse
account:
  description: The account as passed to Windows (built-in names normalised).
  returned: success
  type: str
  sample: NT AUTHORITY\NetworkService
account_type:
  description: V(builtin), V(gmsa), V(local), V(domain), V(upn) or V(unqualified).
  returned: success
  type: str
logon_right:
  description:
    - V(granted) (added by this run), V(held) (already held), V(not_needed) (built-in account) or V(not_managed)
      (O(grant_logon_right=false)).
  returned: success
  type: str
password_updated:
  description: Whether the service password was (or would be) set.
  returned: success
  type: bool
restarted:
  description: Whether the service was (or would be) restarted.
  returned: success
  type: bool
restart_pending:
  description: Something changed that the running service picks up only at its next restart.
  returned: success
  type: bool
settings:
  description:
    - The mailbox settings. C(status) is V(not_managed) (no O(settings_store); C(msg) says why and C(not_written)
      lists the settings given but not written) or V(managed), then C(fields) has C(mailbox_address),
      C(mailbox_password) and C(directory_type), each with C(status) V(managed) or V(not_requested), C(value_name)
      and C(changed). Values are never returned.
  returned: success
  type: dict
  sample: {"status": "not_managed", "msg": "Microsoft Mailbox, its password and Directory Type are not managed ...", "not_written": ["mailbox_address"]}
version:
  description:
    - The installed MSE version, from C(DisplayVersion) of the C(mimecast-sync-engine) uninstall entry.
    - V(unknown) when there is no such entry (for example an MSI-based 2.x install).
  returned: success
  type: str
  sample: 4.5.0.525
version_source:
  description: Where RV(version) was read, or V(null) when it is V(unknown).
  returned: success
  type: str
  sample: registry HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\mimecast-sync-engine, value DisplayVersion
steps:
  description:
    - Each module call made on the host, with C(step), C(module), C(changed) and C(failed).
    - A call whose result could not be read counts as changed unless the module only reads.
  returned: always
  type: list
  elements: dict
msg:
  description: What happened, or which step failed and why.
  returned: always
  type: str
'''
