# -*- coding: utf-8 -*-
# Copyright: contributors to mimecast_mse.sync_engine
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the mse_site_* action plugins: the one place they are defined.

The doc-only modules in plugins/modules/ document exactly these options; a unit test
compares the two.
"""

from __future__ import annotations

# Labels used in results and docs: [doc] vendor documentation, [seen] public reports,
# [guess] an educated guess nobody has confirmed.
UNINSTALL_ROOTS = (
    r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
)
DEFAULT_PRODUCT_CODES = ["mimecast-sync-engine"]  # 4.5.x NSIS installer [seen: winget manifest]
KNOWN_SERVICE_NAMES = ("msesrv",)  # 4.5.0.525 [seen, single source]
SERVICE_MATCH = "mimecast"  # matched case-insensitively in name, display name and binary path
MIMECAST_REGISTRY_KEYS = (
    r"HKLM:\SOFTWARE\Mimecast",
    r"HKLM:\SOFTWARE\WOW6432Node\Mimecast",
)
KNOWN_FOLDERS = (
    (r"C:\ProgramData\Mimecast Synchronisation Engine", "doc", "data folder of MSE 3.x and later"),
    (r"C:\Program Files\Mimecast\SynchronizationEngine", "seen", "2.x layout seen in a 2015 log sample"),
    (r"C:\Program Files\Mimecast Synchronization Engine", "guess", "possible install folder"),
    (r"C:\Program Files (x86)\Mimecast\SynchronizationEngine", "guess", "possible 32-bit 2.x install folder"),
)
DEFAULT_SETTINGS_PATTERNS = ["*.config", "*.xml", "*.json", "*.ini"]

SITE_INFO_SPEC = {
    "service_name": {"type": "str"},
    "product_codes": {"type": "list", "elements": "str", "default": list(DEFAULT_PRODUCT_CODES)},
    "extra_paths": {"type": "list", "elements": "str", "default": []},
    "settings_patterns": {"type": "list", "elements": "str", "default": list(DEFAULT_SETTINGS_PATTERNS)},
    "search_depth": {"type": "int", "default": 2},
    "registry_depth": {"type": "int", "default": 2},
}
SITE_INFO_RULES: dict = {}

SETTINGS_STORE_SPEC = {
    "type": {"type": "str", "required": True, "choices": ["registry"]},
    "path": {"type": "str", "required": True},
    "mailbox_address_value": {"type": "str"},
    "mailbox_password_value": {"type": "str"},
    "directory_type_value": {"type": "str"},
    "password_storage": {"type": "str", "choices": ["plaintext"]},
    "verified": {"type": "bool", "default": False},
}

SITE_ACCOUNT_SPEC = {
    "account": {"type": "str", "required": True},
    "password": {"type": "str", "no_log": True},
    "update_password": {"type": "str", "default": "on_change", "choices": ["on_change", "always"]},
    "service_name": {"type": "str"},
    "grant_logon_right": {"type": "bool", "default": True},
    "restart": {"type": "bool", "default": True},
    "state": {"type": "str", "default": "started", "choices": ["started", "stopped", "unchanged"]},
    "mailbox_address": {"type": "str"},
    "mailbox_password": {"type": "str", "no_log": True},
    "directory_type": {"type": "str"},
    "settings_store": {"type": "dict", "options": SETTINGS_STORE_SPEC},
}
SITE_ACCOUNT_RULES: dict = {}
